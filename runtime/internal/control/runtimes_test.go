package control_test

import (
	"context"
	"os"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kumo-dev/kumo/runtime/image"
	"github.com/kumo-dev/kumo/runtime/internal/control"
	"github.com/kumo-dev/kumo/runtime/internal/store"
	"github.com/kumo-dev/kumo/runtime/kumo"
	"github.com/kumo-dev/kumo/runtime/runtimes"
)

// runtimeImages is the image store with managed runtimes' base images, as
// kumod wires it.
type runtimeImages struct {
	*image.Store
	b *runtimes.Builder
}

func (i runtimeImages) BaseImage(ctx context.Context, runtime string) (v1.Image, error) {
	return i.b.BaseImage(ctx, runtime)
}

func TestManagedRuntimes(t *testing.T) {
	if _, err := os.Stat("/var/lib/dpkg/status"); err != nil {
		t.Skip("needs a Debian host: no /var/lib/dpkg/status")
	}
	t.Parallel()
	dir := t.TempDir()
	st, err := store.Open(t.Context(), store.Config{Dir: dir})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	imgs, err := image.Open(dir + "/images")
	require.NoError(t, err)
	b, err := runtimes.New(imgs)
	require.NoError(t, err)
	svc := control.New(st, runtimeImages{imgs, b}, scope, control.WithRuntimes(runtimes.Supported()))
	code := testZip(t, map[string]string{"app.py": "def handler(e, c):\n    return e\n"})

	in := createInput("py", code)
	in.Runtime, in.Handler = "python3.11", "app.handler"
	f, err := svc.CreateFunction(t.Context(), in)
	require.NoError(t, err)
	img, err := imgs.Image(t.Context(), v1.Hash{Algorithm: "sha256", Hex: f.ImageDigest[len("sha256:"):]})
	require.NoError(t, err)
	cfg, err := img.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, []string{"/usr/bin/python3.11", "/var/runtime/bootstrap.py"}, cfg.Config.Entrypoint)
	layers, err := img.Layers()
	require.NoError(t, err)
	assert.Len(t, layers, 4, "skeleton, packages, client, code")

	const supported = "Supported runtimes: [java17, nodejs20.x, provided.al2, provided.al2023, python3.11, ruby3.1]"
	for _, rt := range []string{"dotnet8", "java21", "python3.12", "nodejs18.x"} {
		in := createInput("bad-"+rt[:4], code)
		in.Runtime = rt
		_, err := svc.CreateFunction(t.Context(), in)
		require.ErrorIs(t, err, kumo.ErrInvalidParameter, rt)
		assert.Equal(t, "The runtime parameter of "+rt+" is not supported by this kumo host. "+supported, err.Error())
	}
	_, err = svc.UpdateFunctionConfiguration(t.Context(), "py", control.ConfigInput{Runtime: ptr("java21")})
	require.ErrorIs(t, err, kumo.ErrInvalidParameter)
	assert.Contains(t, err.Error(), supported)
	f, err = svc.UpdateFunctionConfiguration(t.Context(), "py", control.ConfigInput{Runtime: ptr("ruby3.1"), Handler: ptr("app.handler")})
	require.NoError(t, err)
	assert.Equal(t, "ruby3.1", f.Runtime)
}
