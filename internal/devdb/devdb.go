// Package devdb starts and stops the project-local Postgres cluster that
// `make run` and `make test` use when DATABASE_URL is not set.
//
// The cluster lives under a git-ignored folder of the checkout (.data/pg by
// default), listens on 127.0.0.1 on a port derived from that folder's path so
// two checkouts on one machine do not collide, keeps its Unix socket in its own
// directory, and runs with wal_level=logical so replication-slot features work.
// It is created on first use and reused after.
//
// Postgres refuses to run as root, so when the current user is root the
// cluster is initialised and run as the unprivileged `postgres` user (created
// if missing). Ensure takes an exclusive file lock so that parallel test
// binaries never race to initdb or start the same cluster.
package devdb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// SuperUser is the role initdb creates; local connections trust it.
const SuperUser = "hookd"

// DefaultDatabase is the database `make run` uses.
const DefaultDatabase = "hookd"

// Config says where the cluster lives. The zero value is usable.
type Config struct {
	// Dir is the cluster's data directory. Default: .data/pg under the module
	// root (the nearest parent directory holding go.mod), or under the current
	// directory when there is none.
	Dir string

	// Port is the TCP port. Default: derived from Dir, in 54000–54999.
	Port int

	// BinDir holds initdb, pg_ctl and postgres. Default: $PG_BIN, then
	// `pg_config --bindir`, then the newest /usr/lib/postgresql/*/bin, then
	// PATH.
	BinDir string

	// Log receives progress lines (creating, starting). Default: discarded.
	Log func(format string, args ...any)
}

// Cluster is a located (not necessarily running) local cluster.
type Cluster struct {
	lockPath string
	dir      string
	sockDir  string
	port     int
	binDir   string
	runAs    *user.User // nil: run as the current user
	log      func(string, ...any)
}

// New resolves the configuration; it does not touch the disk beyond lookups.
func New(cfg *Config) (*Cluster, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	c := &Cluster{dir: cfg.Dir, port: cfg.Port, binDir: cfg.BinDir, log: cfg.Log}
	if c.log == nil {
		c.log = func(string, ...any) {}
	}
	if c.dir == "" {
		root, err := moduleRoot()
		if err != nil {
			return nil, err
		}
		c.dir = filepath.Join(root, ".data", "pg")
	}
	abs, err := filepath.Abs(c.dir)
	if err != nil {
		return nil, fmt.Errorf("resolving cluster directory: %w", err)
	}
	c.dir = abs
	c.lockPath = abs + ".lock"
	if c.port == 0 {
		h := fnv.New32a()
		_, _ = h.Write([]byte(c.dir))
		c.port = 54000 + int(h.Sum32()%1000)
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			// Created on Ensure, when we know we need to initdb.
			u = &user.User{Username: "postgres"}
		}
		c.runAs = u
	}
	c.sockDir = filepath.Join(filepath.Dir(c.dir), "sock")
	// A Unix socket path must fit in 107 bytes; fall back to a short
	// per-checkout directory under /tmp when the checkout is deep.
	if len(c.sockDir)+len("/.s.PGSQL.54321") > 100 {
		c.sockDir = filepath.Join(os.TempDir(), fmt.Sprintf("hookd-sock-%d", c.port))
	}
	return c, nil
}

// Port is the TCP port the cluster listens on.
func (c *Cluster) Port() int { return c.port }

// Dir is the cluster's data directory.
func (c *Cluster) Dir() string { return c.dir }

// URL is the connection string for database name on this cluster.
func (c *Cluster) URL(database string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", SuperUser, c.port, database)
}

// Ensure creates the cluster if needed, starts it if it is not running, and
// creates the default database. It is safe to call from many processes at
// once.
func (c *Cluster) Ensure(ctx context.Context) error {
	unlock, err := c.lock()
	if err != nil {
		return err
	}
	defer unlock()

	if c.runAs != nil {
		if err := c.ensureRunAsUser(ctx); err != nil {
			return err
		}
	}
	if c.running() {
		return nil
	}
	if err := c.findBinaries(ctx); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(c.dir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := c.initdb(ctx); err != nil {
			return err
		}
	}
	if err := c.start(ctx); err != nil {
		return err
	}
	return c.createDefaultDatabase(ctx)
}

// Stop stops the cluster if it is running.
func (c *Cluster) Stop(ctx context.Context) error {
	unlock, err := c.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if c.runAs != nil {
		if err := c.ensureRunAsUser(ctx); err != nil {
			return err
		}
	}
	if _, err := os.Stat(filepath.Join(c.dir, "postmaster.pid")); err != nil {
		return nil
	}
	if err := c.findBinaries(ctx); err != nil {
		return err
	}
	return c.run(ctx, c.bin("pg_ctl"), "-D", c.dir, "-m", "fast", "-w", "stop")
}

func (c *Cluster) lock() (func(), error) {
	path := c.lockPath
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening lock file %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// running reports whether something accepts connections on our port and the
// data directory has a live postmaster. A port held by a foreign process is
// reported by start.
func (c *Cluster) running() bool {
	if _, err := os.Stat(filepath.Join(c.dir, "postmaster.pid")); err != nil {
		return false
	}
	conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)), time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

func (c *Cluster) findBinaries(ctx context.Context) error {
	if c.binDir != "" {
		return c.checkBinDir(c.binDir)
	}
	var candidates []string
	if dir := os.Getenv("PG_BIN"); dir != "" {
		candidates = append(candidates, dir)
	}
	if out, err := exec.CommandContext(ctx, "pg_config", "--bindir").Output(); err == nil {
		candidates = append(candidates, strings.TrimSpace(string(out)))
	}
	versioned, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(versioned, func(i, j int) bool { return pgMajor(versioned[i]) > pgMajor(versioned[j]) })
	candidates = append(candidates, versioned...)
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		candidates = append(candidates, filepath.Dir(p))
	}
	for _, dir := range candidates {
		if c.checkBinDir(dir) == nil {
			c.binDir = dir
			return nil
		}
	}
	if os.Geteuid() == 0 {
		if _, err := exec.LookPath("apt-get"); err == nil {
			c.log("no Postgres binaries found: installing Debian's postgresql package")
			if err := installPostgres(ctx); err != nil {
				return err
			}
			c.binDir = ""
			return c.findBinaries(ctx)
		}
	}
	return errors.New("no Postgres server binaries (initdb, pg_ctl) found: install Postgres 15+ " +
		"(Debian: apt-get install postgresql), set PG_BIN to their directory, or set DATABASE_URL")
}

func installPostgres(ctx context.Context) error {
	for _, args := range [][]string{{"update"}, {"install", "-y", "--no-install-recommends", "postgresql"}} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("apt-get %s failed: %w: %s", args[0], err, lastLines(out, 5))
		}
	}
	return nil
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func (c *Cluster) checkBinDir(dir string) error {
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("%s not found in %s", name, dir)
		}
	}
	return nil
}

func (c *Cluster) bin(name string) string { return filepath.Join(c.binDir, name) }

// ensureRunAsUser makes sure the unprivileged user exists and can reach the
// data directory; when a parent directory is closed to it (a checkout under
// /root, say), the cluster moves to a per-checkout folder under /var/tmp.
func (c *Cluster) ensureRunAsUser(ctx context.Context) error {
	if c.runAs.Uid == "" {
		if u, err := user.Lookup(c.runAs.Username); err == nil {
			c.runAs = u
		} else {
			c.log("creating system user %q to run the local cluster", c.runAs.Username)
			if out, err := exec.CommandContext(ctx, "useradd", "--system", "--no-create-home",
				"--shell", "/usr/sbin/nologin", c.runAs.Username).CombinedOutput(); err != nil {
				return fmt.Errorf("creating user %s: %w: %s", c.runAs.Username, err, lastLines(out, 3))
			}
			u, err := user.Lookup(c.runAs.Username)
			if err != nil {
				return fmt.Errorf("looking up user %s: %w", c.runAs.Username, err)
			}
			c.runAs = u
		}
	}
	if err := exec.CommandContext(ctx, "runuser", "-u", c.runAs.Username, "--",
		"test", "-x", filepath.Dir(c.dir)).Run(); err != nil {
		h := fnv.New32a()
		_, _ = h.Write([]byte(c.dir))
		moved := filepath.Join("/var/tmp", fmt.Sprintf("hookd-pg-%08x", h.Sum32()), "pg")
		c.log("user %s cannot reach %s: using %s for the cluster", c.runAs.Username, c.dir, moved)
		c.dir = moved
		c.sockDir = filepath.Join(filepath.Dir(moved), "sock")
		if err := os.MkdirAll(filepath.Dir(moved), 0o755); err != nil {
			return err
		}
	}
	for _, dir := range []string{c.dir, c.sockDir} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("creating %s: %w", dir, err)
		}
		if err := c.chown(dir); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) chown(path string) error {
	uid, _ := strconv.Atoi(c.runAs.Uid)
	gid, _ := strconv.Atoi(c.runAs.Gid)
	if err := os.Chown(path, uid, gid); err != nil {
		return fmt.Errorf("handing %s to %s: %w", path, c.runAs.Username, err)
	}
	return nil
}

func (c *Cluster) initdb(ctx context.Context) error {
	c.log("creating local Postgres cluster in %s", c.dir)
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", c.dir, err)
	}
	if c.runAs != nil {
		if err := c.chown(c.dir); err != nil {
			return err
		}
	}
	err := c.run(ctx, c.bin("initdb"), "-D", c.dir, "-U", SuperUser, "--auth=trust",
		"--encoding=UTF8", "--locale=C.UTF-8", "--no-instructions")
	if err != nil {
		// Remove the half-made directory so the next try starts clean.
		_ = os.RemoveAll(c.dir)
		return fmt.Errorf("initdb: %w", err)
	}
	conf := strings.Join([]string{
		"# Written by hookd's devdb: a throwaway local cluster.",
		"listen_addresses = '127.0.0.1'",
		"port = " + strconv.Itoa(c.port),
		"wal_level = logical",
		"max_replication_slots = 64",
		"max_wal_senders = 64",
		"max_connections = 1000",
		"shared_buffers = 128MB",
		"log_min_messages = warning",
		"log_min_error_statement = panic",
		"",
	}, "\n")
	f, err := os.OpenFile(filepath.Join(c.dir, "postgresql.auto.conf"), os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("configuring cluster: %w", err)
	}
	defer f.Close()
	_, err = f.WriteString(conf)
	return err
}

func (c *Cluster) start(ctx context.Context) error {
	conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)), time.Second)
	if err == nil {
		conn.Close()
		return fmt.Errorf("port %d is in use by another process: stop it or set DATABASE_URL", c.port)
	}
	if err := os.MkdirAll(c.sockDir, 0o755); err != nil {
		return fmt.Errorf("creating socket directory: %w", err)
	}
	if c.runAs != nil {
		if err := c.chown(c.sockDir); err != nil {
			return err
		}
	}
	c.log("starting local Postgres on 127.0.0.1:%d", c.port)
	logFile := filepath.Join(c.dir, "server.log")
	err = c.run(ctx, c.bin("pg_ctl"), "-D", c.dir, "-l", logFile, "-w", "-t", "60",
		"-o", fmt.Sprintf("-p %d -k %s", c.port, c.sockDir), "start")
	if err != nil {
		tail, _ := os.ReadFile(logFile)
		return fmt.Errorf("starting Postgres: %w: %s", err, lastLines(tail, 5))
	}
	return nil
}

func (c *Cluster) createDefaultDatabase(ctx context.Context) error {
	psql := filepath.Join(c.binDir, "psql")
	if _, err := os.Stat(psql); err != nil {
		if p, err := exec.LookPath("psql"); err == nil {
			psql = p
		}
	}
	out, err := exec.CommandContext(ctx, psql, "-X", "-q", "-t", "-A", "-h", "127.0.0.1", "-p", strconv.Itoa(c.port),
		"-U", SuperUser, "-d", "postgres", "-c",
		"SELECT 1 FROM pg_database WHERE datname = '"+DefaultDatabase+"'").CombinedOutput()
	if err != nil {
		return fmt.Errorf("checking default database: %w: %s", err, lastLines(out, 3))
	}
	if strings.TrimSpace(string(out)) == "1" {
		return nil
	}
	out, err = exec.CommandContext(ctx, psql, "-X", "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(c.port),
		"-U", SuperUser, "-d", "postgres", "-c", "CREATE DATABASE "+DefaultDatabase).CombinedOutput()
	if err != nil && !bytes.Contains(out, []byte("already exists")) {
		return fmt.Errorf("creating default database: %w: %s", err, lastLines(out, 3))
	}
	return nil
}

// run executes a Postgres binary, as the unprivileged user when we are root.
func (c *Cluster) run(ctx context.Context, name string, args ...string) error {
	var cmd *exec.Cmd
	if c.runAs != nil {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.runAs.Username, "--", name}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, name, args...)
	}
	// pg_ctl start leaves the postmaster running; it must not hold our
	// stdout/stderr pipes open or CombinedOutput would wait for it forever.
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", filepath.Base(name), err, lastLines(out.Bytes(), 5))
	}
	return nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return dir, nil
		}
	}
}
