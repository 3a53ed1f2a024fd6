package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/garssl/garssld/internal/filekind"
)

// CredentialsVar is the one variable that file attributes (api_key_file,
// password_file and the tls files) may use, as in
// password_file = "${CREDENTIALS_DIRECTORY}/mqtt.pass". systemd sets it,
// for a service with LoadCredential=, to a directory that only the service
// can read, so the key and password files need not be readable by the
// daemon's user where they are kept.
const CredentialsVar = "CREDENTIALS_DIRECTORY"

// fileAttr reads a file path: a literal string, or a template whose only
// interpolation is ${CREDENTIALS_DIRECTORY}, expanded from the
// environment. Without the variable set, the path is an error, except
// under SkipFileChecks (checking a config away from the service, `garssld
// status`), which keeps the text as written.
func fileAttr(name string, dst *string) attrSpec {
	plain := stringAttr(name, dst)
	return attrSpec{name, func(d *decoder, path string, expr hcl.Expression) {
		if isConstant(expr) {
			plain.set(d, path, expr)
			return
		}
		if !onlyCredentialsVar(expr) {
			d.add(diagAt(expr.Range(), "%s must be a literal path, which may use ${%s}; other variables, functions, operators and ${…} are not evaluated in this file",
				path, CredentialsVar))
			return
		}
		dir := os.Getenv(CredentialsVar)
		if dir == "" && !d.skipFileChecks {
			d.add(diagAt(expr.Range(), "%s uses ${%s}, which is not set: systemd sets it only for a service with LoadCredential= (see systemd/garssld.service); elsewhere write the file's path, or set %s to the directory holding it",
				path, CredentialsVar, CredentialsVar))
			return
		}
		value := cty.StringVal(dir)
		if dir == "" {
			value = cty.StringVal("${" + CredentialsVar + "}")
		}
		v, hd := expr.Value(&hcl.EvalContext{Variables: map[string]cty.Value{CredentialsVar: value}})
		if hd.HasErrors() {
			d.diags = append(d.diags, fromHCL(hd)...)
			return
		}
		d.origin[path] = expr.Range()
		*dst = v.AsString()
	}}
}

// onlyCredentialsVar reports whether expr is a string template made of
// literal text and ${CREDENTIALS_DIRECTORY}, and nothing else.
func onlyCredentialsVar(expr hcl.Expression) bool {
	isVar := func(e hclsyntax.Expression) bool {
		t, ok := e.(*hclsyntax.ScopeTraversalExpr)
		return ok && len(t.Traversal) == 1 && t.Traversal.RootName() == CredentialsVar
	}
	switch e := expr.(type) {
	case *hclsyntax.TemplateWrapExpr: // "${CREDENTIALS_DIRECTORY}" alone
		return isVar(e.Wrapped)
	case *hclsyntax.TemplateExpr:
		for _, part := range e.Parts {
			if lit, ok := part.(*hclsyntax.LiteralValueExpr); ok && lit.Val.Type() == cty.String {
				continue
			}
			if !isVar(part) {
				return false
			}
		}
		return true
	}
	return false
}

// file checks that a referenced file exists and can be opened, unless the
// config was loaded with SkipFileChecks. Only the path is ever reported,
// never the contents.
func (v *validator) file(path, name string) { v.checkFile(path, name, false) }

// secretFile is file plus a check that the secret is not empty, which
// would otherwise surface later as a confusing authentication failure.
func (v *validator) secretFile(path, name string) { v.checkFile(path, name, true) }

func (v *validator) checkFile(path, name string, secret bool) {
	if name == "" || v.meta.skipsFileChecks() {
		return
	}
	// Stat before opening: opening a FIFO or device named by mistake could
	// block or have side effects.
	fi, err := os.Stat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		v.errorf(path, "%s %q does not exist", path, name)
		return
	case err != nil:
		v.errorf(path, "%s %q cannot be read: %s", path, name, pathErrorReason(err))
		return
	case fi.IsDir():
		v.errorf(path, "%s %q is a directory; name a file", path, name)
		return
	case !fi.Mode().IsRegular():
		v.errorf(path, "%s %q is %s; name a regular file", path, name, filekind.Of(fi.Mode()))
		return
	case secret && fi.Size() == 0:
		v.errorf(path, "%s %q is empty", path, name)
		return
	}
	f, err := os.Open(name)
	if err != nil {
		v.errorf(path, "%s %q cannot be read: %s", path, name, pathErrorReason(err))
		return
	}
	f.Close()
}

// storeDir checks mqtt.store_dir. The daemon creates the directory, so a
// missing one is fine; something else already there under that name is not.
func (v *validator) storeDir(dir string) {
	const path = "mqtt.store_dir"
	if dir == "" {
		v.errorf(path, "%s is empty; give a writable directory for messages not yet acknowledged", path)
		return
	}
	if v.meta.skipsFileChecks() {
		return
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		v.errorf(path, "%s %q cannot be used: %s", path, dir, pathErrorReason(err))
	case !fi.IsDir():
		v.errorf(path, "%s %q is a file, not a directory; name a directory (garssld creates it when missing)", path, dir)
	}
}

// pathErrorReason drops the path from an *fs.PathError, which the message
// already names.
func pathErrorReason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// APIKey reads the bearer token from APIKeyFile, without surrounding
// white space. It returns "" when no file is configured. Read it at start
// rather than keeping it in Config, so that the key never travels with
// the config into logs.
func (m MLLM) APIKey() (string, error) {
	return readSecret("mllm.api_key_file", m.APIKeyFile)
}

// Password reads the MQTT password from PasswordFile, without surrounding
// white space. It returns "" when no file is configured.
func (m MQTT) Password() (string, error) {
	return readSecret("mqtt.password_file", m.PasswordFile)
}

func readSecret(what, name string) (string, error) {
	if name == "" {
		return "", nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", what, err)
	}
	secret := strings.TrimSpace(string(b))
	if secret == "" {
		return "", fmt.Errorf("read %s: %s is empty", what, name)
	}
	return secret, nil
}
