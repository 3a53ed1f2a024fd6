package schedule

// Running and Queued let tests wait until the scheduler has settled and
// check that no slot idles while a window waits.
func (s *Scheduler) Running() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running
}

func (s *Scheduler) Queued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, st := range s.ring {
		n += len(st.queue)
	}
	return n
}
