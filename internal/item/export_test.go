package item

// SetBatchQueued has f called each time a create queues behind the
// group-commit batches in flight (set before the service is used).
func (s *Service) SetBatchQueued(f func()) { s.batch.queued = f }
