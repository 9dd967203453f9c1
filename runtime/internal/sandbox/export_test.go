package sandbox

// Exported for tests in sandbox_test.
var CPUQuota = cpuQuota

func ValidateConfig(c Config) (Config, error) { return c.withDefaults() }
