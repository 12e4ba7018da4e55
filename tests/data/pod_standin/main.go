// Command argoexec is the test suite's stand-in for Argo Workflows' executor: just enough of
// `argoexec version`, `argoexec init` and `argoexec emissary` for a pod-shaped run on a plain Docker
// engine (an init container copies the binary into a shared volume; the main container, from a stock
// image, runs `/var/run/argo/argoexec emissary ... -- CMD ARGS`). Standard library only, so Debian's
// Go 1.19 builds it offline; tests/pod_standin.py compiles it.
//
// It follows argoproj/argo-workflows at v4.1.2 (the code here is written for the tests; these are the
// upstream files whose behaviour it copies):
//   - cmd/argoexec/main.go: an error that carries an exit code (the child's) exits with that code;
//     any other error is written to /dev/termination-log, printed, and exits 64.
//   - cmd/argoexec/commands/root.go and util/kube/cli/cli.go: cobra prints "Error: <err>"; the
//     persistent flags are --loglevel, --gloglevel, --log-format, --kubeconfig and client-go's
//     override flags (--server/-s, --namespace/-n, ...).
//   - util/cmd/cmd.go and version.go: the `version` output and version string.
//   - cmd/argoexec/commands/init.go, cmd/argoexec/executor/init.go: init loads a kube config (it
//     panics without one: CheckErr), needs ARGO_POD_NAME (fatal, exit 1), parses ARGO_TEMPLATE and
//     ARGO_DEADLINE (RFC 3339; CheckErr panics), then runs the emissary initializer.
//   - workflow/executor/emissary/emissary.go and binary.go: the initializer sets umask 0 (Linux),
//     copies the `argoexec` found on PATH (exec.LookPath, not os.Executable) to /var/run/argo/argoexec
//     (O_RDWR|O_CREATE, 0555, no `.exe`) and writes the re-marshalled template to
//     /var/run/argo/template (0444).
//   - cmd/argoexec/commands/emissary.go: the exit code starts at 64 and a deferred write puts it in
//     /var/run/argo/ctr/<ARGO_CONTAINER_NAME>/exitcode (0644, no newline) whatever happens; the
//     ctr/<name> folder is made 0777; the template comes from /var/run/argo/template, else from
//     ARGO_TEMPLATE; the command is looked up with exec.LookPath and a command that is not found is
//     an ordinary error, so the process exits 64 and the exitcode file says 64 (not 127: upstream
//     never runs a shell); stdout/combined are captured (O_APPEND, 0666) when
//     ARGO_INCLUDE_SCRIPT_OUTPUT is "true"; signals are forwarded to the child's process group; a
//     child killed by a signal gives 128+signal (workflow/executor/osspecific/signal_*.go); then the main
//     container saves each output parameter with a valueFrom.path (saveParameter).
//
// Where the stand-in is stricter or smaller than upstream (each says "stand-in" in its message):
// init requires every variable the controller sets on the init container (upstream only insists on
// ARGO_POD_NAME and reads the template from /var/run/argo/template without ARGO_TEMPLATE), and
// ARGO_CONTAINER_NAME to be "init"; a kube config is "present" when --server is given (see kubeConfigProblem
// for client-go's prompt), --kubeconfig or KUBECONFIG or ~/.kube/config names an existing file, or the
// in-cluster variables and token exist (a file is never parsed, and no API is ever called); templates that need artifacts, scripts, resources,
// container sets, output artifacts and output parameters other than valueFrom.path are refused rather than
// half-done; no TTY, no retries, no debug
// pauses, no signal file, no ARGO_CONTAINER_ARGS_FILE; on Windows signals are not forwarded.
//
// The base folder is upstream's constant /var/run/argo, with no environment or flag override. On
// Windows Go treats it as rooted on the current drive, so it is C:\var\run\argo when the process runs
// on C: (as upstream relies on). Wine differs: it maps a path starting with "/" to the Unix root through
// its Z: drive, so tests/pod_standin.py runs the Windows build in a prefix without Z:.
//
// Upstream's Linux emissary reaps the child with a one-second Wait4 poll; the stand-in waits for it
// directly (same exit code, without the extra second).
//
// A failure mode for the tests is chosen at build time with -ldflags "-X main.mode=...":
//   - ok: the behaviour above;
//   - no-copy: init does everything but copy the binary, and exits 0;
//   - lose-exitcode: emissary never writes the exitcode file (it still exits with the child's code);
//   - wrong-exitcode: emissary always writes 0 to the exitcode file (it still exits with the child's
//     code), so a greeting that exits 0 looks right and only a non-zero exit shows the loss.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
)

// VarRunArgoPath is upstream's constant (workflow/common/common.go).
const VarRunArgoPath = "/var/run/argo"

// varRunArgo is a variable upstream only so its Go tests can point it elsewhere
// (cmd/argoexec/commands/emissary.go); nothing outside the program changes it.
var varRunArgo = VarRunArgoPath

// Set with -ldflags -X, like upstream's version.go; the defaults are a plain `go build`'s.
var (
	version      = "v0.0.0"
	buildDate    = "1970-01-01T00:00:00Z"
	gitCommit    = ""
	gitTag       = ""
	gitTreeState = ""
	mode         = "ok"
)

var modes = []string{"ok", "no-copy", "lose-exitcode", "wrong-exitcode"}

const (
	envPodName             = "ARGO_POD_NAME"
	envPodUID              = "ARGO_POD_UID"
	envWorkflowName        = "ARGO_WORKFLOW_NAME"
	envWorkflowUID         = "ARGO_WORKFLOW_UID"
	envContainerName       = "ARGO_CONTAINER_NAME"
	envTemplate            = "ARGO_TEMPLATE"
	envNodeID              = "ARGO_NODE_ID"
	envIncludeScriptOutput = "ARGO_INCLUDE_SCRIPT_OUTPUT"
	envDeadline            = "ARGO_DEADLINE"
	templateOffloaded      = "offloaded"    // common.EnvVarTemplateOffloaded
	envConfigMountPath     = "/argo/config" // common.EnvConfigMountPath
)

// initEnv: what the controller sets on the init container (workflow/controller/workflowpod.go).
var initEnv = []string{envPodName, envPodUID, envWorkflowName, envWorkflowUID, envContainerName, envTemplate,
	envNodeID, envIncludeScriptOutput, envDeadline}

func main() {
	os.Exit(run(os.Args[1:]))
}

// exited is an error that carries a process exit code (upstream's util/errors.Exited).
type exited int

func (e exited) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func run(argv []string) int {
	if !contains(modes, mode) {
		fmt.Fprintf(os.Stderr, "argoexec stand-in: built with unknown mode %q (want one of %s)\n", mode,
			strings.Join(modes, ", "))
		return 70
	}
	if len(argv) == 0 || argv[0] == "help" || argv[0] == "--help" || argv[0] == "-h" {
		fmt.Println("argoexec is the executor sidecar to workflow containers (test stand-in)\n\n" +
			"Usage:\n  argoexec [command]\n\nAvailable Commands:\n  emissary\n  init          Load artifacts\n" +
			"  version       Print version information")
		return 0
	}
	command, rest := argv[0], argv[1:]
	switch command {
	case "version", "init", "emissary":
	case "agent", "artifact", "artifact-plugin-init", "artifact-plugin-sidecar", "data", "kill", "resource",
		"supervisor", "wait":
		return fail(fmt.Errorf("argoexec stand-in: %q is not implemented (only version, init and emissary)",
			command))
	default:
		return fail(fmt.Errorf("unknown command %q for \"argoexec\"\nRun 'argoexec --help' for usage.", command))
	}
	opts, err := parseFlags(command, rest)
	if err != nil {
		return fail(err)
	}
	log, err := newLogger(opts.logLevel, opts.logFormat)
	if err != nil {
		fmt.Fprintf(os.Stderr, "level=ERROR msg=\"Failed to create argoexec pre-run logger\" error=%s\n",
			quote(err.Error()))
		return 1
	}
	switch command {
	case "version":
		printVersion(opts.short)
		return 0
	case "init":
		err = runInit(log, opts)
	default:
		err = runEmissary(log, opts.args)
	}
	var code exited
	if errors.As(err, &code) {
		fmt.Fprintf(os.Stderr, "Error: %s\n", err) // cobra's report of the RunE error
		return int(code)
	}
	if err != nil {
		return fail(err)
	}
	return 0
}

// fail reports an error the way cobra and upstream's main do, and gives upstream's exit code.
func fail(err error) int {
	fmt.Fprintf(os.Stderr, "Error: %s\n", err)
	writeTerminateMessage(err.Error())
	fmt.Fprintln(os.Stderr, err.Error())
	return 64
}

// writeTerminateMessage is util.WriteTerminateMessage.
func writeTerminateMessage(message string) {
	if err := os.WriteFile("/dev/termination-log", []byte(message), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "unable to write termination log: "+err.Error())
	}
}

// checkErr is cmd/argoexec/executor.CheckErr: write the message, then panic (exit 2).
func checkErr(err error) {
	if err != nil {
		writeTerminateMessage(err.Error())
		panic(err.Error())
	}
}

type options struct {
	logLevel, logFormat string
	glogLevel           int
	server, kubeconfig  string
	namespace           string
	short               bool
	args                []string
	// client-go's user identification overrides (canIdentifyUser) and what makes a bare host https.
	token, username, clientCertificate, authority string
	insecure                                      bool
}

// Persistent flags of upstream's root command that take a value (client-go's override flags included).
var valueFlags = map[string]bool{
	"loglevel": true, "log-format": true, "gloglevel": true, "kubeconfig": true, "server": true,
	"namespace": true, "token": true, "user": true, "cluster": true, "context": true,
	"certificate-authority": true, "client-certificate": true, "client-key": true, "request-timeout": true,
	"username": true, "password": true, "as": true, "as-group": true, "as-uid": true, "tls-server-name": true,
	"proxy-url": true,
}

var boolFlags = map[string]bool{"insecure-skip-tls-verify": true, "disable-compression": true}

var shorthands = map[string]string{"s": "server", "n": "namespace"}

// parseFlags parses like pflag does for cobra: --name value, --name=value, -s value, interspersed
// positional arguments, and everything after "--" positional.
func parseFlags(command string, argv []string) (options, error) {
	o := options{logLevel: "info", logFormat: "text"}
	for i := 0; i < len(argv); i++ {
		arg := argv[i]
		if arg == "--" {
			o.args = append(o.args, argv[i+1:]...)
			break
		}
		if !strings.HasPrefix(arg, "-") || arg == "-" {
			o.args = append(o.args, arg)
			continue
		}
		var name, value string
		hasValue := false
		if strings.HasPrefix(arg, "--") {
			name = arg[2:]
			if k, v, ok := strings.Cut(name, "="); ok {
				name, value, hasValue = k, v, true
			}
			if !valueFlags[name] && !boolFlags[name] && !(command == "version" && name == "short") {
				return o, fmt.Errorf("unknown flag: --%s", name)
			}
		} else {
			short := arg[1:2]
			long, ok := shorthands[short]
			if !ok {
				return o, fmt.Errorf("unknown shorthand flag: '%s' in %s", short, arg)
			}
			name = long
			if len(arg) > 2 {
				value, hasValue = strings.TrimPrefix(arg[2:], "="), true
			}
		}
		if boolFlags[name] || name == "short" {
			if hasValue && value != "true" && value != "false" {
				return o, fmt.Errorf("invalid argument %q for \"--%s\" flag: strconv.ParseBool: parsing %q: "+
					"invalid syntax", value, name, value)
			}
			if name == "short" {
				o.short = !hasValue || value == "true"
			}
			if name == "insecure-skip-tls-verify" {
				o.insecure = !hasValue || value == "true"
			}
			continue
		}
		if !hasValue {
			if i+1 >= len(argv) {
				return o, fmt.Errorf("flag needs an argument: --%s", name)
			}
			i++
			value = argv[i]
		}
		switch name {
		case "loglevel":
			o.logLevel = value
		case "log-format":
			o.logFormat = value
		case "gloglevel":
			n, err := strconv.Atoi(value)
			if err != nil {
				return o, fmt.Errorf("invalid argument %q for \"--gloglevel\" flag: strconv.ParseInt: parsing %q: "+
					"invalid syntax", value, value)
			}
			o.glogLevel = n
		case "server":
			o.server = value
		case "kubeconfig":
			o.kubeconfig = value
		case "namespace":
			o.namespace = value
		case "token":
			o.token = value
		case "username":
			o.username = value
		case "client-certificate":
			o.clientCertificate = value
		case "certificate-authority":
			o.authority = value
		}
	}
	return o, nil
}

// GetVersion (version.go): the tag for a clean, tagged commit; else <version>+<commit[:7]>[.dirty].
func getVersion() string {
	if gitCommit != "" && gitTag != "" && gitTreeState == "clean" {
		return gitTag
	}
	v := version
	if len(gitCommit) >= 7 {
		v += "+" + gitCommit[:7]
		if gitTreeState != "clean" {
			v += ".dirty"
		}
	} else {
		v += "+unknown"
	}
	return v
}

// printVersion is util/cmd.PrintVersion.
func printVersion(short bool) {
	fmt.Printf("argoexec: %s\n", getVersion())
	if short {
		return
	}
	fmt.Printf("  BuildDate: %s\n", buildDate)
	fmt.Printf("  GitCommit: %s\n", gitCommit)
	fmt.Printf("  GitTreeState: %s\n", gitTreeState)
	if gitTag != "" {
		fmt.Printf("  GitTag: %s\n", gitTag)
	}
	fmt.Printf("  GoVersion: %s\n", runtime.Version())
	fmt.Printf("  Compiler: %s\n", runtime.Compiler)
	fmt.Printf("  Platform: %s/%s\n", runtime.GOOS, runtime.GOARCH)
}

// logger writes slog-style lines (upstream's util/logging uses slog's text or JSON handler) to stderr.
type logger struct {
	min  int
	json bool
}

var levels = map[string]int{"debug": 0, "info": 1, "warn": 2, "error": 3}
var levelNames = []string{"DEBUG", "INFO", "WARN", "ERROR"}

func newLogger(level, format string) (*logger, error) {
	n, ok := levels[strings.ToLower(level)]
	if !ok {
		return nil, fmt.Errorf("invalid log level %q: one of debug|info|warn|error", level)
	}
	if format != "text" && format != "json" {
		return nil, fmt.Errorf("invalid log format %q: one of text|json", format)
	}
	return &logger{min: n, json: format == "json"}, nil
}

// log writes one line; fields are key, value pairs.
func (l *logger) log(level int, msg string, fields ...string) {
	if level < l.min {
		return
	}
	now := time.Now().Format("2006-01-02T15:04:05.000Z07:00")
	fields = append([]string{"argo", "true"}, fields...)
	if l.json {
		entry := map[string]string{"time": now, "level": levelNames[level], "msg": msg}
		for i := 0; i+1 < len(fields); i += 2 {
			entry[fields[i]] = fields[i+1]
		}
		data, _ := json.Marshal(entry)
		fmt.Fprintln(os.Stderr, string(data))
		return
	}
	line := fmt.Sprintf("time=%s level=%s msg=%s", now, levelNames[level], quote(msg))
	for i := 0; i+1 < len(fields); i += 2 {
		line += " " + fields[i] + "=" + quote(fields[i+1])
	}
	fmt.Fprintln(os.Stderr, line)
}

func (l *logger) info(msg string, fields ...string) { l.log(1, msg, fields...) }

// fatal logs at error level and exits 1, like upstream's WithFatal().Error.
func (l *logger) fatal(msg string, fields ...string) {
	l.log(3, msg, fields...)
	os.Exit(1)
}

func quote(s string) string {
	if s == "" || strings.IndexFunc(s, func(r rune) bool {
		return r == ' ' || r == '"' || r == '=' || r == '\\' || !unicode.IsPrint(r)
	}) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

func versionFields() []string {
	return []string{"version", getVersion(), "buildDate", buildDate, "gitCommit", gitCommit,
		"gitTreeState", gitTreeState, "gitTag", gitTag, "goVersion", runtime.Version(),
		"platform", runtime.GOOS + "/" + runtime.GOARCH}
}

// kubeConfigProblem stands in for clientConfig.ClientConfig(): nil when client-go would find a config.
//
// argoexec's client config is client-go's NewInteractiveDeferredLoadingClientConfig(loadingRules, overrides,
// os.Stdin) (util/kube/cli/cli.go, AddKubectlFlagsToCmd). With --server given, client-go's
// DirectClientConfig.ClientConfig (tools/clientcmd/client_config.go) reads the user's identity only when the
// server is https (rest.IsConfigTransportTLS: an https:// URL, or a bare host with a CA or
// --insecure-skip-tls-verify), in getUserIdentificationPartialConfig: without a token, a client certificate,
// a username or an auth provider (canIdentifyUser), it prompts on that reader, os.Stdin
// (tools/clientcmd/auth_loaders.go, PromptingAuthLoader.Prompt: "Please enter Username: " read with
// fmt.Fscan, then the password, read only from a terminal). A container's stdin is empty: the prompt
// reads EOF, ClientConfig fails, and init's CheckErr ends the process (cmd/argoexec/executor/init.go, Init).
// An http:// server, or --token, needs no prompt.
func kubeConfigProblem(o options) error {
	if o.server != "" {
		if serverIsTLS(o) && o.token == "" && o.username == "" && o.clientCertificate == "" {
			return promptForIdentity()
		}
		return nil
	}
	var candidates []string
	if o.kubeconfig != "" {
		if _, err := os.Stat(o.kubeconfig); err != nil {
			return fmt.Errorf("stat %s: no such file or directory", o.kubeconfig)
		}
		return nil
	}
	candidates = append(candidates, filepath.SplitList(os.Getenv("KUBECONFIG"))...)
	if home, err := os.UserHomeDir(); err == nil {
		candidates = append(candidates, filepath.Join(home, ".kube", "config"))
	}
	for _, path := range candidates {
		if info, err := os.Stat(path); path != "" && err == nil && !info.IsDir() {
			return nil
		}
	}
	// rest.InClusterConfig's conditions.
	_, tokenErr := os.Stat("/var/run/secrets/kubernetes.io/serviceaccount/token")
	if os.Getenv("KUBERNETES_SERVICE_HOST") != "" && os.Getenv("KUBERNETES_SERVICE_PORT") != "" && tokenErr == nil {
		return nil
	}
	return errors.New("invalid configuration: no configuration has been provided, try setting " +
		"KUBERNETES_MASTER environment variable")
}

// serverIsTLS is rest.IsConfigTransportTLS for a --server override: the URL's scheme, or for a bare host
// https only when a CA or --insecure-skip-tls-verify is given (rest.DefaultServerURL).
func serverIsTLS(o options) bool {
	if scheme, _, ok := strings.Cut(o.server, "://"); ok {
		return strings.EqualFold(scheme, "https")
	}
	return o.authority != "" || o.insecure
}

// promptForIdentity is PromptingAuthLoader.Prompt on os.Stdin.
func promptForIdentity() error {
	fmt.Print("Please enter Username: ")
	var user string
	if _, err := fmt.Fscan(os.Stdin, &user); err != nil {
		return err
	}
	fmt.Print("Please enter Password: ")
	if info, err := os.Stdin.Stat(); err != nil || info.Mode()&os.ModeCharDevice == 0 {
		return errors.New("error reading input for Password")
	}
	return errors.New("argoexec stand-in: a password typed at a terminal is not implemented")
}

// template is the part of wfv1.Template the stand-in looks at.
type template map[string]json.RawMessage

func parseTemplate(data []byte) (template, error) {
	var t template
	if err := json.Unmarshal(data, &t); err != nil {
		return nil, err
	}
	return t, nil
}

// unsupported names what the stand-in does not implement for this template, or "".
func (t template) unsupported() string {
	for _, key := range []string{"script", "resource", "data", "containerSet", "http", "plugin"} {
		if _, ok := t[key]; ok {
			return key + " templates"
		}
	}
	for _, key := range []string{"inputs", "outputs"} {
		var io struct {
			Artifacts  []json.RawMessage `json:"artifacts"`
			Parameters []struct {
				ValueFrom json.RawMessage `json:"valueFrom"`
			} `json:"parameters"`
		}
		if raw, ok := t[key]; ok && json.Unmarshal(raw, &io) == nil {
			if len(io.Artifacts) > 0 {
				return key + ".artifacts"
			}
			for _, p := range io.Parameters {
				var from map[string]json.RawMessage
				if key == "outputs" && len(p.ValueFrom) > 0 && json.Unmarshal(p.ValueFrom, &from) == nil {
					for name := range from {
						if name != "path" && name != "default" {
							return "outputs.parameters with valueFrom." + name
						}
					}
				}
			}
		}
	}
	return ""
}

func resolveTemplateEnvValue(raw string) ([]byte, error) {
	if raw == templateOffloaded {
		return os.ReadFile(filepath.Join(envConfigMountPath, envTemplate))
	}
	return []byte(raw), nil
}

// runInit is `argoexec init` for a template without artifacts.
func runInit(log *logger, o options) error {
	log.info("Starting Workflow Executor", versionFields()...)
	checkErr(kubeConfigProblem(o))
	for _, name := range initEnv {
		if _, ok := os.LookupEnv(name); !ok {
			if name == envPodName {
				log.fatal("Unable to determine pod name from environment variable " + envPodName)
			}
			log.fatal(fmt.Sprintf("stand-in: environment variable %s is not set (the controller sets it on the "+
				"init container)", name))
		}
	}
	if name := os.Getenv(envContainerName); name != "init" {
		log.fatal(fmt.Sprintf("stand-in: %s=%s, the controller sets %s=init on the init container",
			envContainerName, name, envContainerName))
	}
	data, err := resolveTemplateEnvValue(os.Getenv(envTemplate))
	checkErr(err)
	tmpl, err := parseTemplate(data)
	checkErr(err)
	deadline, err := time.Parse(time.RFC3339, os.Getenv(envDeadline))
	checkErr(err)
	namespace := o.namespace
	if namespace == "" {
		namespace = "default"
	}
	log.info("Executor initialized", append(versionFields(), "namespace", namespace, "podName",
		os.Getenv(envPodName), "templateName", strings.Trim(string(tmpl["name"]), `"`), "includeScriptOutput",
		strconv.FormatBool(os.Getenv(envIncludeScriptOutput) == "true"), "deadline", deadline.String())...)
	if what := tmpl.unsupported(); what != "" {
		return fmt.Errorf("argoexec stand-in: %s are not implemented", what)
	}
	allowGrantingAccessToEveryone()
	if mode != "no-copy" {
		if err := copyBinary(); err != nil {
			return err
		}
	}
	return writeTemplate(tmpl)
}

// copyBinary is workflow/executor/emissary/binary.go: the argoexec on PATH, not os.Executable.
func copyBinary() error {
	name, err := exec.LookPath("argoexec")
	if err != nil {
		return err
	}
	in, err := os.Open(filepath.Clean(name))
	if err != nil {
		return err
	}
	defer func() { _ = in.Close() }()
	out, err := os.OpenFile(VarRunArgoPath+"/argoexec", os.O_RDWR|os.O_CREATE, 0o555)
	if err != nil {
		return err
	}
	if _, err = io.Copy(out, in); err != nil {
		return err
	}
	return out.Close()
}

// writeTemplate: upstream writes json.Marshal of the parsed template (so not the env's bytes).
func writeTemplate(t template) error {
	data, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return os.WriteFile(VarRunArgoPath+"/template", data, 0o444)
}

// readTemplate is emissary.go's readTemplateAt with the constants.
func readTemplate() ([]byte, error) {
	filePath := varRunArgo + "/template"
	if data, err := os.ReadFile(filePath); err == nil {
		return data, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	raw, ok := os.LookupEnv(envTemplate)
	if !ok {
		return nil, fmt.Errorf("neither %s nor %s is available", filePath, envTemplate)
	}
	return resolveTemplateEnvValue(raw)
}

// runEmissary is cmd/argoexec/commands/emissary.go's runEmissary, for a plain container template.
func runEmissary(log *logger, args []string) (err error) {
	containerName := os.Getenv(envContainerName)
	includeScriptOutput := os.Getenv(envIncludeScriptOutput) == "true"
	exitCode := 64
	defer func() {
		switch mode {
		case "lose-exitcode":
			return
		case "wrong-exitcode":
			exitCode = 0
		}
		path := varRunArgo + "/ctr/" + containerName + "/exitcode"
		if werr := os.WriteFile(path, []byte(strconv.Itoa(exitCode)), 0o644); werr != nil {
			log.log(3, "failed to write exit code", "error", werr.Error())
		}
	}()

	allowGrantingAccessToEveryone()
	if err = os.MkdirAll(varRunArgo+"/ctr/"+containerName, 0o777); err != nil {
		return fmt.Errorf("failed to create ctr directory: %w", err)
	}

	name, args := args[0], args[1:] // no command: an index panic, as upstream

	data, err := readTemplate()
	if err != nil {
		return fmt.Errorf("failed to read template: %w", err)
	}
	tmpl, err := parseTemplate(data)
	if err != nil {
		return fmt.Errorf("failed to unmarshal template: %w", err)
	}
	if what := tmpl.unsupported(); what != "" {
		return fmt.Errorf("argoexec stand-in: %s are not implemented", what)
	}

	signals := make(chan os.Signal, 1)
	signal.Notify(signals)
	defer signal.Reset()

	name, err = exec.LookPath(name)
	if err != nil {
		return fmt.Errorf("failed to find name in PATH: %w", err)
	}

	command := exec.Command(name, args...)
	command.Env = os.Environ()
	command.Stdin = os.Stdin
	var stdout io.Writer = os.Stdout
	var stderr io.Writer = os.Stderr
	if includeScriptOutput {
		log.info("capturing logs")
		dir := varRunArgo + "/ctr/" + containerName
		stdoutf, err := os.OpenFile(dir+"/stdout", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o666)
		if err != nil {
			return fmt.Errorf("failed to start command: failed to open stdout: %w", err)
		}
		defer func() { _ = stdoutf.Close() }()
		combinedf, err := os.OpenFile(dir+"/combined", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o666)
		if err != nil {
			return fmt.Errorf("failed to start command: failed to open combined: %w", err)
		}
		defer func() { _ = combinedf.Close() }()
		stdout = io.MultiWriter(stdout, stdoutf, combinedf)
		stderr = io.MultiWriter(stderr, combinedf)
	}
	command.Stdout, command.Stderr = stdout, stderr
	setpgid(command)
	if err = command.Start(); err != nil {
		return fmt.Errorf("failed to start command: %w", err)
	}
	pid := command.Process.Pid
	go func() {
		for s := range signals {
			forwardSignal(pid, s)
		}
	}()

	waitErr := command.Wait()
	code := 0
	if state := command.ProcessState; state != nil {
		code = state.ExitCode()
		if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
	} else if waitErr != nil {
		return waitErr
	}
	var cmdErr error
	if code != 0 {
		cmdErr = exited(code)
		log.info("sub-process exited", "error", cmdErr.Error())
	} else {
		log.info("sub-process exited", "error", "<nil>")
	}
	exitCode = code
	// cmd/argoexec/commands/emissary.go, runEmissary: once the child has exited, the main container saves each
	// output parameter whose valueFrom has a path; an error there is emissary's error (the exit code file still
	// holds the child's code).
	if containerName == "main" {
		for _, path := range tmpl.outputParameterPaths() {
			if err := saveParameter(log, path); err != nil {
				return err
			}
		}
	}
	return cmdErr
}

// outputParameterPaths: the valueFrom.path of each output parameter that has one, in order.
func (t template) outputParameterPaths() []string {
	var outputs struct {
		Parameters []struct {
			ValueFrom *struct {
				Path string `json:"path"`
			} `json:"valueFrom"`
		} `json:"parameters"`
	}
	var paths []string
	if raw, ok := t["outputs"]; ok && json.Unmarshal(raw, &outputs) == nil {
		for _, p := range outputs.Parameters {
			if p.ValueFrom != nil && p.ValueFrom.Path != "" {
				paths = append(paths, p.ValueFrom.Path)
			}
		}
	}
	return paths
}

// saveParameter is cmd/argoexec/commands/emissary.go's saveParameter (v4.1.2), for a template without volumes
// (common.FindOverlappingVolume finds none): a missing file is only a warning (the parameter may be optional);
// otherwise the file is copied to varRunArgo + "/outputs/parameters/" + srcPath, the path appended as it is
// written in the template, its folder made with os.MkdirAll(0755). A Windows path (C:\out.txt) is appended with its
// drive letter and colon, which is no valid folder name on Windows: this is upstream's code, so the stand-in
// fails there as upstream does, and the output-parameter check shows it.
func saveParameter(log *logger, srcPath string) error {
	src, err := os.Open(filepath.Clean(srcPath))
	if os.IsNotExist(err) {
		log.log(2, "cannot save parameter, does not exist", "src", srcPath, "error", err.Error())
		return nil
	}
	if err != nil {
		return fmt.Errorf("failed to open %s: %w", srcPath, err)
	}
	defer func() { _ = src.Close() }()
	dstPath := varRunArgo + "/outputs/parameters/" + srcPath
	log.info("saving parameter", "src", srcPath, "dst", dstPath)
	z := filepath.Dir(dstPath)
	if err := os.MkdirAll(z, 0o755); err != nil {
		return fmt.Errorf("failed to create directory %s: %w", z, err)
	}
	dst, err := os.Create(dstPath)
	if err != nil {
		return fmt.Errorf("failed to create %s: %w", srcPath, err)
	}
	defer func() { _ = dst.Close() }()
	if _, err = io.Copy(dst, src); err != nil {
		return fmt.Errorf("failed to copy %s to %s: %w", srcPath, dstPath, err)
	}
	if err = dst.Close(); err != nil {
		return fmt.Errorf("failed to close %s: %w", dstPath, err)
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, item := range list {
		if item == s {
			return true
		}
	}
	return false
}
