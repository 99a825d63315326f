package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"sync"

	"github.com/rogpeppe/go-internal/testscript"
)

// fakeGitHub is the testscript command `fakegithub`: it starts a stand-in
// for the part of GitHub's REST API the pull-request check uses (issue
// comments) and points $GITHUB_API_URL at it. Comment 1, a person's, exists
// from the start. Each request is appended to $WORK/github.log as "METHOD
// PATH", and each comment's body is kept in $WORK/github/comments/ID.md, so
// scripts assert on files.
func fakeGitHub(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: fakegithub")
	}
	dir := ts.MkAbs("github/comments")
	ts.Check(os.MkdirAll(dir, 0o755))
	logFile := ts.MkAbs("github.log")
	gh := &fakeComments{dir: dir, log: logFile, token: "Bearer test-token", next: 2,
		comments: map[int]string{1: "Looks good to me.\n"}}
	ts.Check(gh.save(1))
	srv := httptest.NewServer(gh)
	ts.Defer(srv.Close)
	ts.Setenv("GITHUB_API_URL", srv.URL)
}

type fakeComments struct {
	dir, log, token string
	mu              sync.Mutex
	next            int
	comments        map[int]string
}

var (
	issueComments = regexp.MustCompile(`^/repos/[^/]+/[^/]+/issues/[0-9]+/comments$`)
	oneComment    = regexp.MustCompile(`^/repos/[^/]+/[^/]+/issues/comments/([0-9]+)$`)
)

func (g *fakeComments) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f, err := os.OpenFile(g.log, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
		fmt.Fprintf(f, "%s %s\n", r.Method, r.URL.Path)
		f.Close()
	}
	if r.Header.Get("Authorization") != g.token {
		http.Error(w, `{"message": "Bad credentials"}`, http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	var body struct {
		Body string `json:"body"`
	}
	if r.Method == http.MethodPost || r.Method == http.MethodPatch {
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Body == "" {
			http.Error(w, `{"message": "Invalid request"}`, http.StatusUnprocessableEntity)
			return
		}
		if len([]rune(body.Body)) > 65536 { // GitHub's limit
			http.Error(w, `{"message": "Validation Failed", "errors": [{"message": "Body is too long (maximum is 65536 characters)"}]}`, http.StatusUnprocessableEntity)
			return
		}
	}
	m := oneComment.FindStringSubmatch(r.URL.Path)
	switch {
	case issueComments.MatchString(r.URL.Path) && r.Method == http.MethodGet:
		// One page holds everything; the script stops on a short page.
		if r.URL.Query().Get("page") != "1" {
			fmt.Fprint(w, "[]")
			return
		}
		ids := make([]int, 0, len(g.comments))
		for id := range g.comments {
			ids = append(ids, id)
		}
		sort.Ints(ids)
		list := []map[string]any{}
		for _, id := range ids {
			list = append(list, map[string]any{"id": id, "body": g.comments[id]})
		}
		json.NewEncoder(w).Encode(list)
	case issueComments.MatchString(r.URL.Path) && r.Method == http.MethodPost:
		id := g.next
		g.next++
		g.comments[id] = body.Body
		g.save(id)
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]any{"id": id, "body": body.Body})
	case m != nil:
		id, _ := strconv.Atoi(m[1])
		if _, ok := g.comments[id]; !ok {
			http.Error(w, `{"message": "Not Found"}`, http.StatusNotFound)
			return
		}
		switch r.Method {
		case http.MethodPatch:
			g.comments[id] = body.Body
			g.save(id)
			json.NewEncoder(w).Encode(map[string]any{"id": id, "body": body.Body})
		case http.MethodDelete:
			delete(g.comments, id)
			os.Remove(g.file(id))
			w.WriteHeader(http.StatusNoContent)
		default:
			http.Error(w, `{"message": "Method not allowed"}`, http.StatusMethodNotAllowed)
		}
	default:
		http.Error(w, `{"message": "Not Found"}`, http.StatusNotFound)
	}
}

func (g *fakeComments) file(id int) string { return filepath.Join(g.dir, strconv.Itoa(id)+".md") }

func (g *fakeComments) save(id int) error {
	return os.WriteFile(g.file(id), []byte(g.comments[id]), 0o644)
}
