// Package rules loads a Hookline rules directory: HCL files of triggers,
// actions and provider settings, checked against the event catalogue
// (schema.hcl). Load is the one path by which validate, plan, eval, test and
// serve obtain rules, so whatever validates is exactly what runs.
//
// Every problem in a user's files is an hcl.Diagnostic with a source range;
// CEL filters are compiled and templates type-checked here, once, so that
// delivering an event only evaluates what was already proven to type-check.
package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty/function"

	"github.com/hookline/hookline"
	"github.com/hookline/hookline/actions"
)

// Options tune a load. The zero value reads the process environment.
type Options struct {
	// Types are the action types rule files may use. Required: the
	// program's list (actions/builtin) or a test's.
	Types *actions.Types
	// LookupEnv tells whether the variables named by env() are set; an
	// unset one is a warning (validate) or, with RequireEnv, an error (serve).
	LookupEnv  func(string) (string, bool)
	RequireEnv bool
	// Limits bound what rendering one event may produce; zero fields take
	// DefaultMaxAttrBytes and DefaultMaxDeliveryBytes.
	Limits RenderLimits
	// MaxEventBytes is the largest event the rules will be given (the
	// server's largest body, or its header limit if larger). Filter costs
	// are estimated for strings, lists and maps that large, to tell which
	// filters need CEL's cost tracker; default DefaultMaxEventBytes.
	MaxEventBytes int64
}

// Set is a loaded, fully checked rule set. It is immutable: a reload builds
// a new Set and swaps it in whole.
type Set struct {
	Schema   *Schema
	Types    *actions.Types // the action types it was loaded with
	Triggers []*Trigger     // sorted by name
	Tests    []*Test        // in file order
	// Providers holds the provider blocks (twilio, smtp ...) by name.
	Providers map[string]*Provider

	// Files holds every parsed file, keyed by the name diagnostics use, so
	// that callers can print diagnostics with source snippets.
	Files map[string]*hcl.File
	// Hash identifies the exact contents of the directory's files.
	Hash string
	// EnvRefs lists every env() variable the rules use, with where.
	EnvRefs map[string][]hcl.Range

	limits RenderLimits
	byType map[string][]*Trigger
	usage  map[string]*FieldUse // what templates read of each variable
	cel    *celEnvs
	funcs  map[string]function.Function // stdlib + env() in render mode
}

// TriggersFor returns the triggers listening to an event type, in name order.
func (s *Set) TriggersFor(eventType string) []*Trigger { return s.byType[eventType] }

// Trigger returns the named trigger, or nil.
func (s *Set) Trigger(name string) *Trigger {
	i := sort.Search(len(s.Triggers), func(i int) bool { return s.Triggers[i].Name >= name })
	if i < len(s.Triggers) && s.Triggers[i].Name == name {
		return s.Triggers[i]
	}
	return nil
}

// LoadDir loads every *.hcl file under dir, recursively, as one rule set.
func LoadDir(dir string, opts Options) (*Set, hcl.Diagnostics) {
	info, err := os.Stat(dir)
	if err != nil || !info.IsDir() {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Rules directory not found",
			Detail:   fmt.Sprintf("%s is not a directory of .hcl rule files.", dir),
		}}
	}
	return Load(os.DirFS(dir), dir, opts)
}

// Load loads every *.hcl file of fsys as one rule set. root prefixes file
// names in diagnostics ("rules/front-desk.hcl"), so they can be opened from
// where the user ran the command.
//
// Directories whose names start with "." are skipped: .git, and Kubernetes
// ConfigMap mounts, whose real files sit in "..data" behind symlinks that
// are themselves found at the top level.
func Load(fsys fs.FS, root string, opts Options) (*Set, hcl.Diagnostics) {
	if opts.LookupEnv == nil {
		opts.LookupEnv = os.LookupEnv
	}
	if err := checkTypes(opts.Types); err != nil {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Internal error", Detail: err.Error() + "."}}
	}
	names, err := ruleFiles(fsys)
	if err != nil {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Cannot read rules directory",
			Detail:   fmt.Sprintf("Reading %s failed: %v.", root, err),
		}}
	}

	l := newLoader(opts)
	l.fsys = fsys
	hash := sha256.New()
	for _, name := range names {
		src, err := fs.ReadFile(fsys, name)
		display := displayName(root, name)
		if err != nil {
			l.diags = append(l.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Cannot read rule file",
				Detail:   fmt.Sprintf("Reading %s failed: %v.", display, err),
			})
			continue
		}
		hashFile(hash, name, src)
		l.fsysName = name
		l.parse(display, src, false)
	}
	set := l.finish()
	if set != nil {
		set.Hash = hex.EncodeToString(hash.Sum(nil))
	}
	sortDiags(l.diags)
	return set, l.diags
}

// ruleFiles lists the .hcl files of fsys in load order.
func ruleFiles(fsys fs.FS) ([]string, error) {
	var names []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != "." && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(p, ".hcl") && !strings.HasPrefix(d.Name(), ".") {
			names = append(names, p)
		}
		return nil
	})
	sort.Strings(names)
	return names, err
}

func hashFile(h io.Writer, name string, src []byte) {
	fmt.Fprintf(h, "%s\x00%d\x00", name, len(src))
	h.Write(src)
}

// Hash is the Set.Hash that Load would give fsys, computed without parsing
// anything: cheap enough to poll, and to skip reloads that change nothing.
func Hash(fsys fs.FS) (string, error) {
	names, err := ruleFiles(fsys)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, name := range names {
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			return "", err
		}
		hashFile(h, name, src)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func displayName(root, name string) string {
	if root == "" || root == "." {
		return filepath.FromSlash(name)
	}
	return filepath.Join(root, filepath.FromSlash(path.Clean(name)))
}

// checkTypes refuses action types whose provider block would take the name
// of a block rule files already have.
func checkTypes(types *actions.Types) error {
	if types == nil {
		return errors.New("rules.Load was called without action types (Options.Types)")
	}
	for _, b := range fileSchema(&actions.Types{}).Blocks {
		if t := types.ByProvider(b.Type); t != nil {
			return fmt.Errorf("the action type %q names its provider block %q, which rule files use for something else", t.Name, b.Type)
		}
	}
	return nil
}

// fileSchema is what a rule file may contain at the top level: the
// provider blocks are those of the action types.
func fileSchema(types *actions.Types) *hcl.BodySchema {
	s := &hcl.BodySchema{
		Blocks: []hcl.BlockHeaderSchema{
			{Type: "trigger", LabelNames: []string{"name"}},
			{Type: "event", LabelNames: []string{"type"}},
			{Type: "object", LabelNames: []string{"name"}},
			{Type: "test", LabelNames: []string{"name"}},
		},
	}
	for _, name := range types.Names() {
		if p := types.Lookup(name).Provider; p != nil {
			s.Blocks = append(s.Blocks, hcl.BlockHeaderSchema{Type: p.Block})
		}
	}
	return s
}

var builtinSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "event", LabelNames: []string{"type"}},
		{Type: "object", LabelNames: []string{"name"}},
	},
}

// loader accumulates the blocks of every file before checking them, since
// a trigger may use an event type declared in a later file.
type loader struct {
	opts      Options
	diags     hcl.Diagnostics
	files     map[string]*hcl.File
	schema    *Schema
	fileBody  *hcl.BodySchema
	triggers  []*hcl.Block
	providers map[string][]*hcl.Block // by block name
	broken    map[string]bool         // files with syntax errors: skip follow-on warnings
	tests     []pendingTest
	fsys      fs.FS
	fsysName  string // of the file being parsed
}

// pendingTest remembers where a test block came from, since fixture paths
// are relative to the file.
type pendingTest struct {
	block    *hcl.Block
	fsysName string
}

func newLoader(opts Options) *loader {
	l := &loader{opts: opts, files: map[string]*hcl.File{}, schema: newSchema(), broken: map[string]bool{},
		fileBody: fileSchema(opts.Types), providers: map[string][]*hcl.Block{}}
	l.parse("schema.hcl", hookline.Schema, true)
	if l.diags.HasErrors() {
		panic(fmt.Sprintf("the built-in schema.hcl is invalid: %s", l.diags.Error())) // a build defect, not a user mistake
	}
	return l
}

func (l *loader) parse(name string, src []byte, builtin bool) {
	f, diags := hclsyntax.ParseConfig(src, name, hcl.InitialPos)
	l.diags = append(l.diags, diags...)
	if diags.HasErrors() {
		l.broken[name] = true
	}
	if f == nil {
		return
	}
	if !builtin {
		l.files[name] = f
	}
	s := l.fileBody
	if builtin {
		s = builtinSchema
	}
	content, diags := f.Body.Content(s)
	l.diags = append(l.diags, diags...)
	for _, b := range content.Blocks {
		switch b.Type {
		case "trigger":
			l.triggers = append(l.triggers, b)
		case "event":
			l.diags = append(l.diags, l.schema.declareEvent(b, builtin)...)
		case "object":
			l.diags = append(l.diags, l.schema.declareObject(b)...)
		case "test":
			l.tests = append(l.tests, pendingTest{block: b, fsysName: l.fsysName})
		default:
			l.providers[b.Type] = append(l.providers[b.Type], b)
		}
	}
}

// finish checks everything that was parsed. It returns a Set whenever the
// schema itself resolved, even with errors elsewhere, so that callers may
// show partial results; callers must check the diagnostics before use.
func (l *loader) finish() *Set {
	if d := l.schema.resolve(); d.HasErrors() {
		l.diags = append(l.diags, d...)
		return nil
	}
	set := &Set{
		Schema:    l.schema,
		Types:     l.opts.Types,
		Providers: map[string]*Provider{},
		Files:     l.files,
		EnvRefs:   map[string][]hcl.Range{},
		byType:    map[string][]*Trigger{},
		usage:     map[string]*FieldUse{},
	}
	set.limits = l.opts.Limits.withDefaults()
	set.funcs = stdFunctions(set.limits.Attr)
	set.funcs["env"] = envFunction(secretValue)
	c, err := newChecker(set, l.broken)
	if err != nil {
		l.diags = append(l.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Internal error", Detail: err.Error()})
		return nil
	}
	if l.opts.MaxEventBytes > 0 {
		c.maxEvent = uint64(l.opts.MaxEventBytes)
	}
	for _, block := range sortedKeys(l.providers) {
		t := l.opts.Types.ByProvider(block)
		if p := decodeSingle(c, l.providers[block], block, func(b *hcl.Block) *Provider { return c.decodeProvider(b, t) }); p != nil {
			set.Providers[block] = p
		}
	}
	seen := map[string]hcl.Range{}
	for _, b := range l.triggers {
		if t := c.decodeTrigger(b); t != nil && c.firstOf(seen, "trigger", t.Name, b.LabelRanges[0], t.DeclRange) {
			set.Triggers = append(set.Triggers, t)
		}
	}
	sort.Slice(set.Triggers, func(i, j int) bool { return set.Triggers[i].Name < set.Triggers[j].Name })
	for _, t := range set.Triggers {
		for _, typ := range t.On {
			set.byType[typ] = append(set.byType[typ], t)
		}
	}
	c.checkProviders()
	seenTests := map[string]hcl.Range{}
	for _, pt := range l.tests {
		if t := c.decodeTest(pt.block, l.fsys, pt.fsysName); t != nil && c.firstOf(seenTests, "test", t.Name, pt.block.LabelRanges[0], t.DeclRange) {
			set.Tests = append(set.Tests, t)
		}
	}
	c.checkEnv(l.opts)
	set.cel = c.cel
	l.diags = append(l.diags, c.diags...)
	return set
}

// decodeSingle decodes a block that may appear at most once in a rule set.
func decodeSingle[T any](c *checker, blocks []*hcl.Block, what string, decode func(*hcl.Block) *T) *T {
	for _, b := range blocks[min(1, len(blocks)):] {
		c.diags = append(c.diags, duplicateDiag(what+" block", what, b.DefRange, blocks[0].DefRange))
	}
	if len(blocks) == 0 {
		return nil
	}
	return decode(blocks[0])
}
