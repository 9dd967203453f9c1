package control

import "strings"

// maxKMSKeyArnLen bounds a value kumo only stores and echoes; real key
// ARNs are well under 256 bytes.
const maxKMSKeyArnLen = 2048

var kmsKeyArnRE = lazyRegexp(`^arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:[\x21-\x7e]*$`)

// validateKMSKeyArn applies Lambda's pattern for KMSKeyArn,
// (arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|(), and keeps the value to
// printable ASCII, since it is echoed in every FunctionConfiguration. The
// key is not used: the host's master key seals environments either way.
func validateKMSKeyArn(arn string) error {
	if arn == "" {
		return nil
	}
	if len(arn) > maxKMSKeyArnLen || !kmsKeyArnRE().MatchString(arn) {
		shown := arn
		if len(shown) > 64 {
			shown = shown[:64] + "..."
		}
		return validationError(strings.ToValidUTF8(shown, "?"), "kMSKeyArn", "Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|()")
	}
	return nil
}
