package cli

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"strings"
	"time"

	"github.com/hookline/hookline/engine"
)

func runTest(e *env, args []string) int {
	fs := newFlags(e, "test", "[DIR]")
	format := fs.String("format", "text", "output format: text, json or junit")
	dir, code := parseDir(e, fs, args)
	if code >= 0 {
		return code
	}
	if *format != "text" && *format != "json" && *format != "junit" {
		fmt.Fprintf(e.stderr, "hookline test: unknown --format %q (use text, json or junit)\n", *format)
		return exitUsage
	}
	compiled, ok := loadRules(e, dir)
	if !ok {
		return exitFailure
	}
	set := compiled.Set()
	eng := engine.New(engine.Options{})
	results := make([]engine.TestResult, 0, len(set.Tests))
	failed := 0
	for _, t := range set.Tests {
		r := eng.RunTest(context.Background(), compiled, t)
		if !r.Passed() {
			failed++
		}
		results = append(results, r)
	}
	var err error
	switch *format {
	case "json":
		err = writeTestJSON(e, results)
	case "junit":
		err = writeJUnit(e, dir, results)
	default:
		writeTestText(e, results)
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "hookline test: %v\n", err)
		return exitFailure
	}
	if failed > 0 {
		return exitFailure
	}
	return exitOK
}

func writeTestText(e *env, results []engine.TestResult) {
	failed := 0
	for _, r := range results {
		loc := fmt.Sprintf("%s:%d", r.Test.DeclRange.Filename, r.Test.DeclRange.Start.Line)
		if r.Passed() {
			fmt.Fprintf(e.stdout, "ok    %s (%s)\n", r.Test.Name, loc)
			continue
		}
		failed++
		fmt.Fprintf(e.stdout, "FAIL  %s (%s)\n", r.Test.Name, loc)
		for _, f := range r.Failures {
			fmt.Fprintf(e.stdout, "      %s\n", strings.ReplaceAll(f, "\n", "\n      "))
		}
	}
	if len(results) == 0 {
		fmt.Fprintln(e.stdout, "no test blocks found")
		return
	}
	fmt.Fprintf(e.stdout, "\n%s: %d passed, %d failed\n", pluralize(len(results), "test"), len(results)-failed, failed)
}

type jsonTest struct {
	Name     string   `json:"name"`
	File     string   `json:"file"`
	Line     int      `json:"line"`
	Passed   bool     `json:"passed"`
	Failures []string `json:"failures"`
	Seconds  float64  `json:"seconds"`
}

func writeTestJSON(e *env, results []engine.TestResult) error {
	out := struct {
		Passed int        `json:"passed"`
		Failed int        `json:"failed"`
		Tests  []jsonTest `json:"tests"`
	}{Tests: []jsonTest{}}
	for _, r := range results {
		jt := jsonTest{r.Test.Name, r.Test.DeclRange.Filename, r.Test.DeclRange.Start.Line, r.Passed(), r.Failures, r.Duration.Seconds()}
		if jt.Failures == nil {
			jt.Failures = []string{}
		}
		if jt.Passed {
			out.Passed++
		} else {
			out.Failed++
		}
		out.Tests = append(out.Tests, jt)
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// JUnit XML as read by GitHub, GitLab and Jenkins test reporters.
type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	File      string        `xml:"file,attr"`
	Line      int           `xml:"line,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

func writeJUnit(e *env, dir string, results []engine.TestResult) error {
	suite := junitSuite{Name: "hookline " + dir, Tests: len(results)}
	var total time.Duration
	for _, r := range results {
		total += r.Duration
		c := junitCase{
			Name: r.Test.Name, Classname: r.Test.DeclRange.Filename, File: r.Test.DeclRange.Filename,
			Line: r.Test.DeclRange.Start.Line, Time: fmt.Sprintf("%.6f", r.Duration.Seconds()),
		}
		if !r.Passed() {
			suite.Failures++
			c.Failure = &junitFailure{Message: strings.SplitN(r.Failures[0], "\n", 2)[0], Text: strings.Join(r.Failures, "\n")}
		}
		suite.Cases = append(suite.Cases, c)
	}
	suite.Time = fmt.Sprintf("%.6f", total.Seconds())
	fmt.Fprint(e.stdout, xml.Header)
	enc := xml.NewEncoder(e.stdout)
	enc.Indent("", "  ")
	if err := enc.Encode(junitSuites{Suites: []junitSuite{suite}}); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout)
	return nil
}
