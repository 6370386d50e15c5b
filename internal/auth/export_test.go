package auth

import "time"

// SetClock replaces s's clock, so a test can step past a token's expiry
// instead of racing the wall clock (exp has second resolution).
func SetClock(s *Service, now func() time.Time) { s.now = now }
