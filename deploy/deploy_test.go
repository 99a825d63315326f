package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/hashicorp/hcl/v2/hclwrite"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/hookline/hookline/actions/builtin"
	"github.com/hookline/hookline/engine"
	"github.com/hookline/hookline/rules"
)

// manifests is what `kubectl apply -k DIR` would create, by "Kind/name".
type manifests map[string]any

// kustomization is the part of kustomize's file these manifests use:
// anything else in one fails the strict decoding, so that a feature this
// test does not follow (patches, generators) cannot slip in unchecked.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
	// What `kustomize edit set image hookline=REGISTRY/hookline:TAG`
	// writes; the checks do not depend on the image's name.
	Images []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
		Digest  string `json:"digest,omitempty"`
	} `json:"images,omitempty"`
}

// load follows a kustomization's resources, directories and files, and
// decodes every YAML document into its API type.
func load(t *testing.T, dir string) manifests {
	t.Helper()
	m := manifests{}
	var walk func(dir string)
	walk = func(dir string) {
		b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		var k kustomization
		if err := strict(b, &k); err != nil {
			t.Fatalf("%s/kustomization.yaml: %v", dir, err)
		}
		for _, r := range k.Resources {
			path := filepath.Join(dir, r)
			if fi, err := os.Stat(path); err != nil {
				t.Fatal(err)
			} else if fi.IsDir() {
				walk(path)
				continue
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for key, obj := range decode(t, path, b) {
				if _, dup := m[key]; dup {
					t.Errorf("%s: %s defined twice", path, key)
				}
				m[key] = obj
			}
		}
	}
	walk(dir)
	return m
}

var docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)

// decode decodes each document of a YAML file strictly into the API type
// its kind names.
func decode(t *testing.T, name string, b []byte) manifests {
	t.Helper()
	m := manifests{}
	for i, doc := range docSeparator.Split(string(b), -1) {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			t.Fatalf("%s, document %d: %v", name, i+1, err)
		}
		if tm.Kind == "" {
			continue // comments only
		}
		var obj interface {
			GetName() string
		}
		switch tm.APIVersion + " " + tm.Kind {
		case "apps/v1 Deployment":
			obj = &appsv1.Deployment{}
		case "v1 Service":
			obj = &corev1.Service{}
		case "v1 ConfigMap":
			obj = &corev1.ConfigMap{}
		case "v1 PersistentVolumeClaim":
			obj = &corev1.PersistentVolumeClaim{}
		case "policy/v1 PodDisruptionBudget":
			obj = &policyv1.PodDisruptionBudget{}
		default:
			t.Fatalf("%s, document %d: %s %s is not a kind this test knows; add it to decode", name, i+1, tm.APIVersion, tm.Kind)
		}
		if err := strict([]byte(doc), obj); err != nil {
			t.Fatalf("%s, document %d (%s): %v", name, i+1, tm.Kind, err)
		}
		m[tm.Kind+"/"+obj.GetName()] = obj
	}
	return m
}

// strict decodes YAML as the API server does with strict field validation:
// no duplicate field, no unknown field, and names compared in their case
// (encoding/json alone would take readOnlyRootFileSystem for
// readOnlyRootFilesystem, which Kubernetes ignores).
func strict(y []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(y)
	if err != nil {
		return err
	}
	strictErrs, err := kjson.UnmarshalStrict(j, v)
	if err != nil {
		return err
	}
	if len(strictErrs) > 0 {
		return errors.Join(strictErrs...)
	}
	return nil
}

func get[T any](t *testing.T, m manifests, key string) T {
	t.Helper()
	obj, ok := m[key].(T)
	if !ok {
		t.Fatalf("no %s among %v", key, m.keys())
	}
	return obj
}

func (m manifests) keys() []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	sort.Strings(k)
	return k
}

// imageConfig reads the Containerfile's USER and CMD, which the manifests
// must agree with.
func imageConfig(t *testing.T) (user string, cmd []string) {
	t.Helper()
	b, err := os.ReadFile("../Containerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "USER "); ok {
			user = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(l, "CMD "); ok {
			if err := json.Unmarshal([]byte(v), &cmd); err != nil {
				t.Fatalf("Containerfile CMD: %v", err)
			}
		}
	}
	if user == "" || cmd == nil {
		t.Fatal("the Containerfile has no USER or no CMD")
	}
	return user, cmd
}

func TestKubernetesSQLite(t *testing.T) {
	t.Parallel()
	m := load(t, "kubernetes/sqlite")
	d := get[*appsv1.Deployment](t, m, "Deployment/hookline")
	checkCommon(t, m, d)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Error("SQLite: one process owns the store, so replicas must be 1")
	}
	if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("SQLite: strategy %q; the old pod must stop (and free the volume and the lock) before the new one starts: Recreate", d.Spec.Strategy.Type)
	}
	spec := d.Spec.Template.Spec
	c := spec.Containers[0]
	_, cmd := imageConfig(t)
	if !slices.Equal(c.Args, cmd) {
		t.Errorf("args %q differ from the image's CMD %q", c.Args, cmd)
	}
	data := volume(t, spec, mountPath(t, c, "/data"))
	if data.PersistentVolumeClaim == nil {
		t.Fatal("/data is not a PersistentVolumeClaim: the store would not survive the pod")
	}
	get[*corev1.PersistentVolumeClaim](t, m, "PersistentVolumeClaim/"+data.PersistentVolumeClaim.ClaimName)
	if spec.SecurityContext.FSGroup == nil || fmt.Sprint(*spec.SecurityContext.FSGroup) != fmt.Sprint(*spec.SecurityContext.RunAsGroup) {
		t.Error("fsGroup must be the user's group, so that the volume is writable")
	}
}

func TestKubernetesPostgres(t *testing.T) {
	t.Parallel()
	m := load(t, "kubernetes/postgres")
	d := get[*appsv1.Deployment](t, m, "Deployment/hookline")
	checkCommon(t, m, d)
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		t.Error("PostgreSQL: the variant for several replicas has fewer than 2")
	}
	spec := d.Spec.Template.Spec
	c := spec.Containers[0]
	if slices.Contains(c.Args, "--data") {
		t.Error("--data and a database URL both name the store: serve refuses that")
	}
	if !slices.Contains(c.Args, "--no-migrate") {
		t.Error("serve should run with --no-migrate: the init container migrates")
	}
	secretEnv(t, c, "HOOKLINE_DATABASE_URL")
	if len(spec.InitContainers) != 1 || !slices.Equal(spec.InitContainers[0].Args, []string{"migrate"}) {
		t.Fatalf("want one init container running migrate, have %+v", spec.InitContainers)
	}
	secretEnv(t, spec.InitContainers[0], "HOOKLINE_DATABASE_URL")
	pdb := get[*policyv1.PodDisruptionBudget](t, m, "PodDisruptionBudget/hookline")
	if !selects(pdb.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Error("the PodDisruptionBudget selects no pod of the Deployment")
	}
}

// checkCommon checks what both variants need.
func checkCommon(t *testing.T, m manifests, d *appsv1.Deployment) {
	t.Helper()
	user, _ := imageConfig(t)
	spec := d.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(spec.Containers))
	}
	c := spec.Containers[0]
	if !selects(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Error("the Deployment's selector does not select its own pods")
	}
	if spec.EnableServiceLinks == nil || *spec.EnableServiceLinks {
		t.Error("enableServiceLinks must be false: the Service hookline would add HOOKLINE_* variables")
	}

	// Listening, the Service and the probes.
	if i := slices.Index(c.Args, "--listen"); i < 0 || c.Args[i+1] != "0.0.0.0:8080" {
		t.Errorf("args %q: want --listen 0.0.0.0:8080", c.Args)
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 8080 {
		t.Errorf("ports %+v: want http 8080", c.Ports)
	}
	svc := get[*corev1.Service](t, m, "Service/hookline")
	if !selects(svc.Spec.Selector, d.Spec.Template.Labels) {
		t.Error("the Service selects no pod of the Deployment")
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.String() != "http" {
		t.Errorf("Service ports %+v: want one, to the port named http", svc.Spec.Ports)
	}
	for what, ann := range map[string]map[string]string{"Service": svc.Annotations, "pod": d.Spec.Template.Annotations} {
		if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != "8080" || ann["prometheus.io/path"] != "/metrics" {
			t.Errorf("%s annotations %v: want Prometheus to scrape :8080/metrics", what, ann)
		}
	}
	for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		want := "/healthz"
		if name == "readiness" {
			want = "/readyz"
		}
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != want || p.HTTPGet.Port.String() != "http" {
			t.Errorf("%s probe %+v: want GET %s on the port named http", name, p, want)
		}
	}

	// Tokens from Secrets, never written in the manifest.
	secretEnv(t, c, "HOOKLINE_INGEST_TOKENS")
	secretEnv(t, c, "HOOKLINE_ADMIN_TOKEN")
	for _, e := range c.Env {
		if e.Value != "" && strings.Contains(e.Name, "TOKEN") {
			t.Errorf("%s is written in the manifest: take it from a Secret", e.Name)
		}
	}
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].SecretRef == nil {
		t.Errorf("envFrom %+v: want the rules' env() secrets from a Secret", c.EnvFrom)
	}

	// Not root, read-only, nothing to escalate with.
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || psc.RunAsGroup == nil {
		t.Fatal("the pod must run as non-root with a numeric user and group")
	}
	if got := fmt.Sprintf("%d:%d", *psc.RunAsUser, *psc.RunAsGroup); got != user {
		t.Errorf("the pod runs as %s, the image as %s", got, user)
	}
	if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("seccompProfile: want RuntimeDefault")
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Error("the server does not call the Kubernetes API: automountServiceAccountToken must be false")
	}
	for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
			t.Errorf("container %s: want readOnlyRootFilesystem, no privilege escalation, every capability dropped; have %+v", c.Name, sc)
		}
		// TMPDIR is /tmp in the image: with a read-only root it needs a
		// volume (SQLite's and Go's temporary files).
		if tmp := volume(t, spec, mountPath(t, c, "/tmp")); tmp.EmptyDir == nil {
			t.Errorf("container %s: /tmp is not an emptyDir", c.Name)
		}
	}

	// The rules: a ConfigMap mounted as a directory, so that updates
	// reach the file watcher, and valid.
	rm := mountPath(t, c, "/rules")
	if rm.SubPath != "" || rm.SubPathExpr != "" {
		t.Error("the rules are mounted with subPath, which the kubelet never updates: hot reload would see nothing")
	}
	if c.Args[len(c.Args)-1] != "/rules" {
		t.Errorf("args %q: the rules directory /rules should be the last argument", c.Args)
	}
	rv := volume(t, spec, rm)
	if rv.ConfigMap == nil {
		t.Fatal("/rules is not a ConfigMap")
	}
	checkRules(t, get[*corev1.ConfigMap](t, m, "ConfigMap/"+rv.ConfigMap.Name))
}

// checkRules loads the ConfigMap's rules as `hookline validate` and `hookline
// test` would, and checks their layout as `hookline fmt --check`.
func checkRules(t *testing.T, cm *corev1.ConfigMap) {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, src := range cm.Data {
		if !strings.HasSuffix(name, ".hcl") {
			continue
		}
		if out := hclwrite.Format([]byte(src)); !bytes.Equal(out, []byte(src)) {
			t.Errorf("ConfigMap %s, %s: not in hookline fmt's layout; formatted, it reads:\n%s", cm.Name, name, out)
		}
		fsys[name] = &fstest.MapFile{Data: []byte(src)}
	}
	if len(fsys) == 0 {
		t.Fatalf("ConfigMap %s holds no .hcl file", cm.Name)
	}
	set, compiled, diags := engine.Load(fsys, "/rules", rules.Options{
		Types:     builtin.Types(),
		LookupEnv: func(string) (string, bool) { return "set", true },
	})
	if len(diags) > 0 {
		t.Fatalf("ConfigMap %s: %s", cm.Name, diags.Error())
	}
	eng := engine.New(engine.Options{})
	for _, test := range set.Tests {
		if r := eng.RunTest(context.Background(), compiled, test); !r.Passed() {
			t.Errorf("ConfigMap %s: test %q fails: %s", cm.Name, test.Name, strings.Join(r.Failures, "; "))
		}
	}
}

func secretEnv(t *testing.T, c corev1.Container, name string) {
	t.Helper()
	for _, e := range c.Env {
		if e.Name == name {
			if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
				t.Errorf("container %s: %s is not taken from a Secret", c.Name, name)
			} else if o := e.ValueFrom.SecretKeyRef.Optional; o != nil && *o {
				t.Errorf("container %s: %s is optional; the server needs it", c.Name, name)
			}
			return
		}
	}
	t.Errorf("container %s: no %s", c.Name, name)
}

func mountPath(t *testing.T, c corev1.Container, path string) corev1.VolumeMount {
	t.Helper()
	for _, m := range c.VolumeMounts {
		if m.MountPath == path {
			return m
		}
	}
	t.Fatalf("container %s mounts nothing at %s", c.Name, path)
	return corev1.VolumeMount{}
}

func volume(t *testing.T, spec corev1.PodSpec, m corev1.VolumeMount) corev1.Volume {
	t.Helper()
	for _, v := range spec.Volumes {
		if v.Name == m.Name {
			return v
		}
	}
	t.Fatalf("no volume %s", m.Name)
	return corev1.Volume{}
}

// selects reports whether a selector's labels all appear among labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// TestKustomizeAgrees compares what this test assembles with what
// kustomize itself builds, where kubectl is installed.
func TestKustomizeAgrees(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("no kubectl")
	}
	t.Parallel()
	for _, dir := range []string{"kubernetes/sqlite", "kubernetes/postgres"} {
		out, err := exec.Command(kubectl, "kustomize", dir).Output()
		if err != nil {
			t.Fatalf("kubectl kustomize %s: %v", dir, err)
		}
		if got, want := decode(t, "kubectl kustomize "+dir, out).keys(), load(t, dir).keys(); !slices.Equal(got, want) {
			t.Errorf("kubectl kustomize %s builds %v; the test follows %v", dir, got, want)
		}
	}
}

// TestSystemdUnit runs systemd-analyze verify on the unit, where systemd
// is installed, with the binary's path replaced by one that exists.
func TestSystemdUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("no systemd-analyze")
	}
	t.Parallel()
	b, err := os.ReadFile("systemd/hookline.service")
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(t.TempDir(), "hookline.service")
	if err := os.WriteFile(unit, bytes.ReplaceAll(b, []byte("/usr/local/bin/hookline"), []byte(self)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", unit).CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
