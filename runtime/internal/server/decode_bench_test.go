package server

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func BenchmarkDecodeCreateFunction(b *testing.B) {
	zip := make([]byte, 5<<20)
	_, _ = rand.Read(zip)
	body, _ := json.Marshal(map[string]any{"FunctionName": "f", "Role": "r", "Code": map[string]string{"ZipFile": base64.StdEncoding.EncodeToString(zip)}})
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var req createFunctionRequest
		if err := decodeWithBlob(body, &req, func(z []byte) { req.Code.ZipFile = z }, "Code", "ZipFile"); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCutBlobMatchesDecoder checks the fast path against encoding/json on
// documents that take it and on ones that must fall back.
func TestCutBlobMatchesDecoder(t *testing.T) {
	t.Parallel()
	zip := base64.StdEncoding.EncodeToString([]byte("PK\x03\x04 some zip bytes"))
	tests := []struct {
		name     string
		body     string
		fastPath bool
	}{
		{"plain", `{"FunctionName":"f","Code":{"ZipFile":"` + zip + `"}}`, true},
		{"spaces", " {\n \"Code\" : { \"S3Key\": null, \"ZipFile\" : \"" + zip + "\" } , \"Tags\":{\"a\":\"}\"}, \"Layers\":[\"x\",{\"ZipFile\":1}]}\t", true},
		{"escaped slash", `{"Code":{"ZipFile":"` + zip[:4] + `\/` + zip[4:] + `"}}`, false},
		{"duplicate", `{"Code":{"ZipFile":"` + zip + `","ZipFile":"` + zip + `"}}`, false},
		{"not at path", `{"ZipFile":"` + zip + `","Code":{}}`, false},
		{"number", `{"Code":{"ZipFile":5}}`, false},
		{"truncated", `{"Code":{"ZipFile":"` + zip, false},
		{"trailing", `{"Code":{"ZipFile":"` + zip + `"}} x`, false},
		{"empty", ``, false},
		{"escaped quote in key", `{"Co\"de":{"ZipFile":"x"}}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, ok := cutBlob([]byte(tc.body), "Code", "ZipFile")
			assert.Equal(t, tc.fastPath, ok)
			var fast, slow createFunctionRequest
			var blob []byte
			errFast := decodeWithBlob([]byte(tc.body), &fast, func(b []byte) { blob = b }, "Code", "ZipFile")
			if blob != nil {
				fast.Code.ZipFile = blob
			}
			errSlow := decode([]byte(tc.body), &slow)
			require.Equal(t, errSlow == nil, errFast == nil, "fast %v, slow %v", errFast, errSlow)
			if errSlow == nil {
				assert.Equal(t, slow, fast)
			}
		})
	}
}
