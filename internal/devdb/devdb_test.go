package devdb

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPortIsStablePerDirectory(t *testing.T) {
	t.Parallel()
	a, err := New(&Config{Dir: "/x/one/.data/pg"})
	require.NoError(t, err)
	b, err := New(&Config{Dir: "/x/one/.data/pg"})
	require.NoError(t, err)
	c, err := New(&Config{Dir: "/x/two/.data/pg"})
	require.NoError(t, err)
	require.Equal(t, a.Port(), b.Port())
	require.NotEqual(t, a.Port(), c.Port())
	require.GreaterOrEqual(t, a.Port(), 54000)
	require.Less(t, a.Port(), 55000)
	require.Equal(t, "postgres://hookd@127.0.0.1:"+strconv.Itoa(a.Port())+"/db?sslmode=disable", a.URL("db"))
}

func TestDefaultDirIsUnderModuleRoot(t *testing.T) {
	t.Parallel()
	c, err := New(nil)
	require.NoError(t, err)
	root, err := moduleRoot()
	require.NoError(t, err)
	require.Equal(t, filepath.Join(root, ".data", "pg"), c.Dir())
}

func TestEnsureIsIdempotent(t *testing.T) {
	t.Parallel()
	// The harness cluster: Ensure on a running cluster is a cheap no-op
	// that leaves it accepting connections.
	c, err := New(nil)
	require.NoError(t, err)
	for range 2 {
		require.NoError(t, c.Ensure(context.Background()))
	}
	conn, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(c.Port()))
	require.NoError(t, err)
	conn.Close()
}

func TestMissingBinariesSayWhatToDo(t *testing.T) {
	t.Parallel()
	c, err := New(&Config{Dir: t.TempDir() + "/pg", BinDir: t.TempDir()})
	require.NoError(t, err)
	err = c.findBinaries(context.Background())
	require.ErrorContains(t, err, "initdb not found")
}

func TestPortInUseIsReported(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	c, err := New(&Config{Dir: t.TempDir() + "/pg", Port: ln.Addr().(*net.TCPAddr).Port})
	require.NoError(t, err)
	err = c.start(context.Background())
	require.ErrorContains(t, err, "in use by another process")
}
