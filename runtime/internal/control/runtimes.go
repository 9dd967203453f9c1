package control

import (
	"slices"

	"github.com/kumo-dev/kumo/runtime/image"
)

// WithRuntimes sets the runtime identifiers the host offers (a host passes
// runtimes.Supported(), whose base images its Images builds); any other
// gets InvalidParameterValueException naming these. The default is the
// minimal base image's image.SupportedRuntimes().
func WithRuntimes(names []string) Option {
	return func(s *Service) { s.runtimes = slices.Clone(names) }
}

func (s *Service) supportedRuntimes() []string {
	if s.runtimes == nil {
		return image.SupportedRuntimes()
	}
	return s.runtimes
}

// knownRuntimes is every identifier Lambda's API knows plus those only kumo
// offers (ruby3.1 is Debian's Ruby, which AWS never shipped): layers may
// name any of them as compatible.
func (s *Service) knownRuntimes() []string {
	known := slices.Clone(lambdaRuntimes)
	for _, rt := range s.supportedRuntimes() {
		if !slices.Contains(known, rt) {
			known = append(known, rt)
		}
	}
	return known
}
