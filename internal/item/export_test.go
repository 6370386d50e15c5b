package item

import "time"

// SetBatchQueued has f called each time a create queues behind the
// group-commit batches in flight (set before the service is used).
func (s *Service) SetBatchQueued(f func()) { s.batch.queued = f }

// SetBatchLinger replaces how long a finished hooked batch may keep its
// shape's slot for the creates it expects (set before the service is used).
func (s *Service) SetBatchLinger(d time.Duration) { s.batch.linger = d }
