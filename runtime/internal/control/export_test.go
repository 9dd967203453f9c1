package control

// WithMaxUnzipped lowers the limit on code + layers unzipped, so tests need
// not build 250 MB of files.
func WithMaxUnzipped(n int64) Option { return func(s *Service) { s.maxUnzipped = n } }
