package config

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// The converters below turn one attribute expression into a Go value.
// They follow HCL's conversions (the string "5" is a number, 5 is the
// string "5") and treat null as "keep the default". Messages name the type
// that was given, never the value, because values may carry credentials.

func stringAttr[S ~string](name string, dst *S) attrSpec {
	return attrSpec{name, func(d *decoder, path string, expr hcl.Expression) {
		if v, ok := d.value(path, expr, cty.String, "a string"); ok {
			*dst = S(v.AsString())
		}
	}}
}

func boolAttr(name string, dst *bool) attrSpec {
	return attrSpec{name, func(d *decoder, path string, expr hcl.Expression) {
		if v, ok := d.value(path, expr, cty.Bool, "true or false"); ok {
			*dst = v.True()
		}
	}}
}

func intAttr(name string, dst *int) attrSpec {
	return attrSpec{name, func(d *decoder, path string, expr hcl.Expression) {
		v, ok := d.value(path, expr, cty.Number, "a whole number")
		if !ok {
			return
		}
		bf := v.AsBigFloat()
		if !bf.IsInt() {
			d.add(diagAt(expr.Range(), "%s = %s is not a whole number", path, bf.Text('g', -1)))
			return
		}
		n, acc := bf.Int64()
		if acc != 0 || n < math.MinInt32 || n > math.MaxInt32 {
			d.add(diagAt(expr.Range(), "%s = %s is too large", path, bf.Text('g', 6)))
			return
		}
		*dst = int(n)
	}}
}

func floatAttr(name string, dst *float64) attrSpec {
	return attrSpec{name, func(d *decoder, path string, expr hcl.Expression) {
		v, ok := d.value(path, expr, cty.Number, "a number")
		if !ok {
			return
		}
		f, _ := v.AsBigFloat().Float64()
		if math.IsInf(f, 0) {
			d.add(diagAt(expr.Range(), "%s = %s is too large", path, v.AsBigFloat().Text('g', 6)))
			return
		}
		*dst = f
	}}
}

// durationAttr reads a duration written as a Go duration string ("3s",
// "250ms", "1m30s").
func durationAttr(name string, dst *time.Duration) attrSpec {
	return attrSpec{name, func(d *decoder, path string, expr hcl.Expression) {
		v, ok := d.value(path, expr, cty.String, `a duration such as "3s"`)
		if !ok {
			return
		}
		dur, err := time.ParseDuration(v.AsString())
		if err != nil {
			d.add(diagAt(expr.Range(), `%s = %q is not a duration; write a number with a unit, e.g. "500ms", "3s" or "1m"`, path, v.AsString()))
			return
		}
		*dst = dur
	}}
}

// stringListAttr reads a list of strings and records the range of every
// element as path[i], so that checks can point at the offending element.
func stringListAttr(name string, dst *[]string) attrSpec {
	return attrSpec{name, func(d *decoder, path string, expr hcl.Expression) {
		v, ok := d.value(path, expr, cty.List(cty.String), "a list of strings")
		if !ok {
			return
		}
		elems, _ := hcl.ExprList(expr) // nil unless a literal list
		list := make([]string, 0, v.LengthInt())
		for i, ev := range v.AsValueSlice() {
			r := elementRange(expr, elems, i, v.LengthInt())
			if ev.IsNull() {
				d.add(diagAt(r, "%s[%d] is null; want a string", path, i))
				return
			}
			d.origin[fmt.Sprintf("%s[%d]", path, i)] = r
			list = append(list, ev.AsString())
		}
		*dst = list
	}}
}

// intListAttr reads a list of whole numbers, recording each element's
// range as path[i].
func intListAttr(name string, dst *[]int) attrSpec {
	return attrSpec{name, func(d *decoder, path string, expr hcl.Expression) {
		v, ok := d.value(path, expr, cty.List(cty.Number), "a list of whole numbers")
		if !ok {
			return
		}
		elems, _ := hcl.ExprList(expr)
		list := make([]int, 0, v.LengthInt())
		for i, ev := range v.AsValueSlice() {
			r := elementRange(expr, elems, i, v.LengthInt())
			if ev.IsNull() {
				d.add(diagAt(r, "%s[%d] is null; want a whole number", path, i))
				return
			}
			n, acc := ev.AsBigFloat().Int64()
			if !ev.AsBigFloat().IsInt() || acc != 0 || n < math.MinInt32 || n > math.MaxInt32 {
				d.add(diagAt(r, "%s[%d] = %s is not a whole number", path, i, ev.AsBigFloat().Text('g', 6)))
				return
			}
			d.origin[fmt.Sprintf("%s[%d]", path, i)] = r
			list = append(list, int(n))
		}
		*dst = list
	}}
}

// positionsAttr reads a list of [x, y, z] points, recording each point's
// range as path[i].
func positionsAttr(name string, dst *[][3]float64) attrSpec {
	return attrSpec{name, func(d *decoder, path string, expr hcl.Expression) {
		v, ok := d.value(path, expr, cty.List(cty.List(cty.Number)), "a list of [x, y, z] positions in metres")
		if !ok {
			return
		}
		// A bad point is reported and left out, so that the rest are still
		// checked (and counted) as they are.
		elems, _ := hcl.ExprList(expr)
		list := make([][3]float64, 0, v.LengthInt())
	points:
		for i, ev := range v.AsValueSlice() {
			r := elementRange(expr, elems, i, v.LengthInt())
			if ev.IsNull() || ev.LengthInt() != 3 {
				n := 0
				if !ev.IsNull() {
					n = ev.LengthInt()
				}
				d.add(diagAt(r, "%s[%d] has %d numbers; write each position as [x, y, z] in metres", path, i, n))
				continue
			}
			var p [3]float64
			for j, c := range ev.AsValueSlice() {
				if c.IsNull() {
					d.add(diagAt(r, "%s[%d] holds null; write each position as [x, y, z] in metres", path, i))
					continue points
				}
				p[j], _ = c.AsBigFloat().Float64()
			}
			d.origin[fmt.Sprintf("%s[%d]", path, i)] = r
			list = append(list, p)
		}
		*dst = list
	}}
}

// elementRange is the range of a literal list's element i, or the whole
// expression's when it is not a literal list of n elements.
func elementRange(expr hcl.Expression, elems []hcl.Expression, i, n int) hcl.Range {
	if len(elems) == n {
		return elems[i].Range()
	}
	return expr.Range()
}

// stringMapAttr reads an object or map whose values convert to strings,
// such as FFmpeg options: { rtsp_transport = "tcp", stimeout = 5000000 }.
func stringMapAttr(name string, dst *map[string]string) attrSpec {
	return attrSpec{name, func(d *decoder, path string, expr hcl.Expression) {
		v, ok := d.value(path, expr, cty.Map(cty.String), "a map of strings")
		if !ok {
			return
		}
		if v.LengthInt() == 0 {
			*dst = nil // as if absent, so that {} and no options compare equal
			return
		}
		m := make(map[string]string, v.LengthInt())
		for k, ev := range v.AsValueMap() {
			if ev.IsNull() {
				d.add(diagAt(expr.Range(), "%s[%q] is null; want a string", path, k))
				return
			}
			m[k] = ev.AsString()
		}
		*dst = m
	}}
}

// value evaluates expr as a constant and converts it to want. It reports
// false, with a diagnostic unless the value was null, when there is no
// usable value.
func (d *decoder) value(path string, expr hcl.Expression, want cty.Type, wantText string) (cty.Value, bool) {
	if !isConstant(expr) {
		d.add(diagAt(expr.Range(), "%s must be a literal value; variables, functions, operators and ${…} are not evaluated in this file", path))
		return cty.NilVal, false
	}
	v, hd := expr.Value(nil)
	if hd.HasErrors() {
		d.diags = append(d.diags, fromHCL(hd)...)
		return cty.NilVal, false
	}
	if v.IsNull() {
		return cty.NilVal, false
	}
	if hasExtremeNumber(v) {
		d.add(diagAt(expr.Range(), "%s holds a number too large or too small to use", path))
		return cty.NilVal, false
	}
	cv, err := convert.Convert(v, want)
	if err != nil || !cv.IsWhollyKnown() || cv.IsNull() {
		d.add(diagAt(expr.Range(), "%s must be %s, not %s", path, wantText, kindOf(v.Type())))
		return cty.NilVal, false
	}
	d.origin[path] = expr.Range()
	return cv, true
}

// kindOf names a value's type for a message, with its article.
func kindOf(t cty.Type) string {
	switch {
	case t == cty.String:
		return "a string"
	case t == cty.Number:
		return "a number"
	case t == cty.Bool:
		return "a bool"
	case t.IsTupleType() || t.IsListType() || t.IsSetType():
		return "a list"
	case t.IsObjectType() || t.IsMapType():
		return "an object"
	default:
		return strconv.Quote(t.FriendlyName())
	}
}

// isConstant reports whether expr is a literal: a number (possibly
// negated), bool, null, a quoted string or heredoc without interpolation,
// or a list or object of those. Configs need nothing more, and refusing the
// rest keeps loading cheap: for expressions and number-to-string
// interpolation can take time exponential in, or enormous compared with,
// the size of the file.
func isConstant(expr hcl.Expression) bool {
	switch e := expr.(type) {
	case *hclsyntax.LiteralValueExpr:
		return true
	case *hclsyntax.TemplateExpr:
		for _, part := range e.Parts {
			lit, ok := part.(*hclsyntax.LiteralValueExpr)
			if !ok || lit.Val.Type() != cty.String {
				return false
			}
		}
		return true
	case *hclsyntax.UnaryOpExpr:
		return e.Op == hclsyntax.OpNegate && isConstant(e.Val)
	case *hclsyntax.ParenthesesExpr:
		return isConstant(e.Expression)
	case *hclsyntax.TupleConsExpr:
		for _, elem := range e.Exprs {
			if !isConstant(elem) {
				return false
			}
		}
		return true
	case *hclsyntax.ObjectConsExpr:
		for _, item := range e.Items {
			if !isConstant(item.KeyExpr) || !isConstant(item.ValueExpr) {
				return false
			}
		}
		return true
	case *hclsyntax.ObjectConsKeyExpr:
		if !e.ForceNonLiteral && hcl.ExprAsKeyword(e.Wrapped) != "" {
			return true // a bare name such as rtsp_transport
		}
		return isConstant(e.Wrapped)
	default:
		return false
	}
}

// maxBinaryExponent bounds numbers to about 1e±330, beyond float64 and
// far beyond any setting, because printing a big.Float with a huge
// exponent as decimal (which number-to-string conversion does) takes time
// and memory proportional to the exponent.
const maxBinaryExponent = 1100

func hasExtremeNumber(v cty.Value) bool {
	extreme := false
	_ = cty.Walk(v, func(_ cty.Path, v cty.Value) (bool, error) {
		if v.Type() == cty.Number && v.IsKnown() && !v.IsNull() {
			bf := v.AsBigFloat()
			exp := bf.MantExp(nil)
			extreme = bf.IsInf() || exp > maxBinaryExponent || exp < -maxBinaryExponent
		}
		return !extreme, nil
	})
	return extreme
}
