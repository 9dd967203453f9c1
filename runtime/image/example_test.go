package image_test

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	"github.com/kumo-dev/kumo/runtime/image"
)

// Example turns an uploaded zip into a function image and unpacks it for a
// sandbox.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "kumo-image-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	store, err := image.Open(dir)
	if err != nil {
		log.Fatal(err)
	}

	// A function's code, as CreateFunction receives it.
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	fh := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate}
	fh.SetMode(0o755)
	w, err := zw.CreateHeader(fh)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := io.WriteString(w, "#!/bin/sh\necho hello\n"); err != nil {
		log.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		log.Fatal(err)
	}

	code, stats, err := store.ZipLayer(ctx, buf.Bytes(), "var/task")
	if err != nil {
		log.Fatal(err)
	}
	base, err := store.BaseImage(ctx, "provided.al2023")
	if err != nil {
		log.Fatal(err)
	}
	digest, err := store.Put(ctx, base, code)
	if err != nil {
		log.Fatal(err)
	}
	layers, err := store.Unpack(ctx, digest)
	if err != nil {
		log.Fatal(err)
	}

	fi, err := os.Stat(filepath.Join(layers[len(layers)-1], "var/task/bootstrap"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("files:", stats.Files, "layers:", len(layers), "bootstrap:", fi.Mode())
	// Output: files: 1 layers: 2 bootstrap: -rwxr-xr-x
}
