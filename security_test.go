package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The files themselves: every file cubby writes under its data directory is
// 0600 and every folder 0700, and no path holds a username, while the
// server runs and after it stops.
func TestDataFilesArePrivateAndNamedByIDOnly(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	var stderr syncBuffer
	go func() { done <- run(ctx, []string{"serve", "--addr", addr, "--data", dir}, io.Discard, &stderr) }()
	base := "http://" + addr
	waitReady(t, base, done)

	const name = "Zebra_Quokka-7731" // distinctive, in mixed case
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	post := func(path, body string, want int) {
		t.Helper()
		res, err := c.Post(base+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Fatalf("POST %s: %d; want %d", path, res.StatusCode, want)
		}
	}
	post("/api/v1/signup", `{"username":"`+name+`","password":"correct horse"}`, http.StatusCreated)
	for i := range 20 {
		post("/api/v1/notes", fmt.Sprintf(`{"title":"note %d of %s","body":"%s"}`, i, name, name), http.StatusCreated)
	}
	res, err := c.Get(base + "/api/v1/export")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("export: %d", res.StatusCode)
	}

	wantPrivate(t, dir, name)
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("serve: exit %d: %s", code, stderr.String())
	}
	wantPrivate(t, dir, name)
}

// wantPrivate walks dir: folders 0700, files 0600, no path naming user in
// any letter case, and the files a server makes all there.
func wantPrivate(t *testing.T, dir, user string) {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		} else {
			files = append(files, filepath.ToSlash(rel))
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %v; want %v", rel, fi.Mode().Perm(), want)
		}
		if strings.Contains(strings.ToLower(path), strings.ToLower(user)) {
			t.Errorf("path %s holds the username", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tenantFiles := slices.DeleteFunc(slices.Clone(files), func(f string) bool { return !strings.HasPrefix(f, "tenants/") })
	if !slices.Contains(files, "routing.db") || !slices.Contains(files, ".lock") || len(tenantFiles) == 0 {
		t.Fatalf("expected routing.db, .lock and tenant files; found %v", files)
	}
}

// sqlDirs are the packages that talk to SQLite.
var sqlDirs = []string{"notes", "auth", "tenant", "router"}

// sqlExceptions are the functions allowed to pass a query that is not a
// constant, and why. Every entry must still be needed: the test fails on
// one that no longer matches anything.
var sqlExceptions = map[string]string{
	"tenant/migrate.go:applyMigration": "runs a block of the embedded schema.sql, then sets PRAGMA user_version " +
		"(which takes no bound parameter) with fmt.Sprintf of the migration's int version",
	"tenant/stmts.go:prepareNoted": "prepares, once a transaction ends, the statements TxExecContext ran in it " +
		"unprepared: each one a query a caller passed to TxExecContext, checked at that caller",
}

// No SQL is built from input: every query handed to a database call in
// notes/, auth/, tenant/ and router/ is a string constant, a sum of
// constants, a local variable only ever set to such, or a parameter of a
// wrapper every call of which passes one. Values go in as ? arguments.
func TestNoSQLIsBuiltFromInput(t *testing.T) {
	used := map[string]bool{}
	checked := 0
	for _, dir := range sqlDirs {
		calls, bad, err := checkSQLInDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		checked += calls
		for _, b := range bad {
			if _, ok := sqlExceptions[b.where]; ok {
				used[b.where] = true
				continue
			}
			t.Errorf("%s:%d: query %s is not a constant", b.file, b.line, b.expr)
		}
	}
	for where := range sqlExceptions {
		if !used[where] {
			t.Errorf("exception %s is no longer needed; remove it", where)
		}
	}
	if checked < 25 {
		t.Fatalf("checked only %d database calls; the checker has lost its way", checked)
	}
	t.Logf("%d database calls checked", checked)
}

// The checker itself catches the usual ways of building SQL.
func TestNoSQLCheckerCatchesBuiltQueries(t *testing.T) {
	src := `package p
const cols = "a, b"
func good(ctx context.Context, db *sqlx.DB, id int) {
	db.ExecContext(ctx, "DELETE FROM t WHERE id = ?", id)
	db.GetContext(ctx, &x, "SELECT "+cols+" FROM t")
	q := "PRAGMA quick_check"
	if id > 0 { q = "PRAGMA integrity_check" }
	db.SelectContext(ctx, &x, q)
	wrap(ctx, "SELECT 1")
	wrapBoth(ctx, "SELECT 2")
}
func wrap(ctx context.Context, query string) { db.QueryContext(ctx, query) }
func wrapBoth(ctx context.Context, query string) { db.ExecContext(ctx, query); wrap(ctx, query) }
func bad(ctx context.Context, db *sqlx.DB, name string, r *http.Request) {
	db.Exec("SELECT * FROM t WHERE n = '" + name + "'")
	db.GetContext(ctx, &x, fmt.Sprintf("SELECT %s", name))
	db.QueryRowContext(ctx, r.URL.Query().Get("q"))
	q := "SELECT 1"
	q += name
	db.Select(&x, q)
	wrap(ctx, name)
	wrapBoth(ctx, "SELECT "+name)
}`
	calls, bad, err := checkSQL(map[string]string{"p/p.go": src})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range bad {
		got = append(got, b.expr)
	}
	want := []string{`"SELECT * FROM t WHERE n = '" + name + "'"`, `fmt.Sprintf("SELECT %s", name)`,
		`r.URL.Query().Get("q")`, `q`, `name`, `"SELECT " + name`}
	if calls != 9 || !slices.Equal(got, want) {
		t.Fatalf("checked %d calls, flagged %q; want 9 calls, %q", calls, got, want)
	}
}

// queryArg maps the database methods to the position of their query.
var queryArg = map[string]int{
	"ExecContext": 1, "QueryContext": 1, "QueryRowContext": 1, "QueryxContext": 1, "QueryRowxContext": 1,
	"PrepareContext": 1, "PreparexContext": 1, "MustExecContext": 1, "NamedExecContext": 1, "NamedQueryContext": 1,
	"GetContext": 2, "SelectContext": 2, "TxExecContext": 2, // tenant.Store's (ctx, tx, query, args...)
	"Exec": 0, "Query": 0, "QueryRow": 0, "Queryx": 0, "QueryRowx": 0, "Prepare": 0, "Preparex": 0,
	"MustExec": 0, "NamedExec": 0, "NamedQuery": 0,
	"Get": 1, "Select": 1, // sqlx: (dest, query, args...)
}

// badQuery is a query argument that is not a constant.
type badQuery struct {
	file  string
	line  int
	where string // file:function
	expr  string
}

func checkSQLInDir(dir string) (int, []badQuery, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return 0, nil, err
	}
	srcs := map[string]string{}
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			return 0, nil, err
		}
		srcs[filepath.ToSlash(name)] = string(b)
	}
	return checkSQL(srcs)
}

// sqlPackage is one package's files, parsed, for checkSQL.
type sqlPackage struct {
	fset   *token.FileSet
	files  map[string]*ast.File
	consts map[string]bool // every name declared const, at any level
}

// checkSQL checks the files of one package (name to source) and returns how
// many database calls it checked and the queries that are not constant.
func checkSQL(srcs map[string]string) (int, []badQuery, error) {
	p := sqlPackage{fset: token.NewFileSet(), files: map[string]*ast.File{}, consts: map[string]bool{}}
	for name, src := range srcs {
		f, err := parser.ParseFile(p.fset, name, src, 0)
		if err != nil {
			return 0, nil, err
		}
		p.files[name] = f
		ast.Inspect(f, func(n ast.Node) bool {
			if g, ok := n.(*ast.GenDecl); ok && g.Tok == token.CONST {
				for _, s := range g.Specs {
					for _, id := range s.(*ast.ValueSpec).Names {
						p.consts[id.Name] = true
					}
				}
			}
			return true
		})
	}
	var bad []badQuery
	calls := 0
	wrappers := map[string]int{}        // functions that pass a parameter on as a query, by name
	passes := map[*ast.FuncDecl][]int{} // and which of its parameters each one passes
	p.eachCall(func(file string, fn *ast.FuncDecl, call *ast.CallExpr) {
		i, ok := queryIndex(call)
		if !ok {
			return
		}
		calls++
		arg := call.Args[i]
		if idx, ok := paramIndex(fn, arg); ok {
			wrappers[fn.Name.Name] = idx
			passes[fn] = append(passes[fn], idx)
			return
		}
		if !p.isConst(arg, fn) {
			bad = append(bad, p.bad(file, fn, arg))
		}
	})
	// wrapperArg is where a call of a wrapper passes its query, if it is one.
	wrapperArg := func(call *ast.CallExpr) (ast.Expr, bool) {
		i, ok := wrappers[calleeName(call)]
		if !ok || i >= len(call.Args) {
			return nil, false
		}
		if _, direct := queryIndex(call); direct {
			return nil, false // a database method of the same name: checked above
		}
		return call.Args[i], true
	}
	// Every call of a wrapper must pass a constant where its query goes, or,
	// in a wrapper, the parameter it is a wrapper of (its callers are checked).
	p.eachCall(func(file string, fn *ast.FuncDecl, call *ast.CallExpr) {
		arg, ok := wrapperArg(call)
		if !ok {
			return
		}
		if idx, ok := paramIndex(fn, arg); ok && slices.Contains(passes[fn], idx) {
			return
		}
		if !p.isConst(arg, fn) {
			bad = append(bad, p.bad(file, fn, arg))
		}
	})
	slices.SortFunc(bad, func(a, b badQuery) int { return cmp.Or(strings.Compare(a.file, b.file), a.line-b.line) })
	return calls, bad, nil
}

func (p sqlPackage) eachCall(visit func(file string, fn *ast.FuncDecl, call *ast.CallExpr)) {
	for name, f := range p.files {
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				if call, ok := n.(*ast.CallExpr); ok {
					visit(name, fn, call)
				}
				return true
			})
		}
	}
}

func (p sqlPackage) bad(file string, fn *ast.FuncDecl, arg ast.Expr) badQuery {
	var b bytes.Buffer
	if err := format.Node(&b, p.fset, arg); err != nil {
		b.WriteString("?")
	}
	pos := p.fset.Position(arg.Pos())
	return badQuery{file: file, line: pos.Line, where: file + ":" + fn.Name.Name, expr: b.String()}
}

// calleeName is the name of the function or method a call calls.
func calleeName(call *ast.CallExpr) string {
	switch f := call.Fun.(type) {
	case *ast.Ident:
		return f.Name
	case *ast.SelectorExpr:
		return f.Sel.Name
	}
	return ""
}

// queryIndex says whether call is a database call and where its query is.
func queryIndex(call *ast.CallExpr) (int, bool) {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return 0, false
	}
	i, ok := queryArg[sel.Sel.Name]
	if !ok {
		return 0, false
	}
	if pkg, ok := sel.X.(*ast.Ident); ok && pkg.Name == "sqlx" {
		i++ // sqlx.GetContext(ctx, q, dest, query): the queryer comes first
	}
	if i >= len(call.Args) {
		return 0, false
	}
	// Get and Select are common names: a context first means another API
	// (Directory.Get(ctx, id)), not sqlx's Get(dest, query).
	if (sel.Sel.Name == "Get" || sel.Sel.Name == "Select") && isContext(call.Args[0]) {
		return 0, false
	}
	return i, true
}

func isContext(e ast.Expr) bool {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name == "ctx"
	case *ast.CallExpr:
		return calleeName(e) == "Context"
	}
	return false
}

// paramIndex says whether e is a parameter of fn, and which.
func paramIndex(fn *ast.FuncDecl, e ast.Expr) (int, bool) {
	id, ok := e.(*ast.Ident)
	if !ok {
		return 0, false
	}
	i := 0
	for _, field := range fn.Type.Params.List {
		for _, name := range field.Names {
			if name.Name == id.Name {
				return i, true
			}
			i++
		}
	}
	return 0, false
}

// isConst reports whether e is a string constant, a sum of them, or a local
// variable of fn that is only ever set to such.
func (p sqlPackage) isConst(e ast.Expr, fn *ast.FuncDecl) bool {
	switch e := e.(type) {
	case *ast.BasicLit:
		return e.Kind == token.STRING
	case *ast.ParenExpr:
		return p.isConst(e.X, fn)
	case *ast.BinaryExpr:
		return e.Op == token.ADD && p.isConst(e.X, fn) && p.isConst(e.Y, fn)
	case *ast.Ident:
		return p.consts[e.Name] || p.constLocal(e.Name, fn)
	}
	return false
}

// constLocal reports whether the local variable name of fn is set at least
// once and only ever to constants.
func (p sqlPackage) constLocal(name string, fn *ast.FuncDecl) bool {
	if _, isParam := paramIndex(fn, ast.NewIdent(name)); isParam {
		return false
	}
	sets, ok := 0, true
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		var lhs []*ast.Ident
		var rhs []ast.Expr
		switch n := n.(type) {
		case *ast.AssignStmt:
			for _, l := range n.Lhs {
				id, _ := l.(*ast.Ident)
				lhs = append(lhs, id)
			}
			rhs = n.Rhs
		case *ast.ValueSpec:
			lhs, rhs = n.Names, n.Values
		case *ast.UnaryExpr:
			if id, isID := n.X.(*ast.Ident); isID && n.Op == token.AND && id.Name == name {
				ok = false // its address is taken: anything may set it
			}
			return true
		default:
			return true
		}
		for i, id := range lhs {
			if id == nil || id.Name != name {
				continue
			}
			sets++
			if len(rhs) != len(lhs) || !isPlainConst(rhs[i], p.consts) {
				ok = false
			}
		}
		return true
	})
	return ok && sets > 0
}

// isPlainConst is isConst without locals, so constLocal cannot loop.
func isPlainConst(e ast.Expr, consts map[string]bool) bool {
	switch e := e.(type) {
	case *ast.BasicLit:
		return e.Kind == token.STRING
	case *ast.ParenExpr:
		return isPlainConst(e.X, consts)
	case *ast.BinaryExpr:
		return e.Op == token.ADD && isPlainConst(e.X, consts) && isPlainConst(e.Y, consts)
	case *ast.Ident:
		return consts[e.Name]
	}
	return false
}
