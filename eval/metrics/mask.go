package metrics

import "math/bits"

// Size is the side of every evaluation mask; metrics.md evaluates all
// numbers on 224×224.
const Size = 224

// Pixels is the number of pixels N of a mask.
const Pixels = Size * Size

const wordsPerRow = (Size + 63) / 64

// Mask is a Size×Size binary mask stored as a bitset, row by row. The zero
// value is an empty mask.
type Mask struct {
	rows [Size][wordsPerRow]uint64
}

// Fill sets the half-open rectangle of columns [x1, x2) and rows [y1, y2),
// bounded to the mask. An empty or inverted range fills nothing, as Python
// slicing does.
func (m *Mask) Fill(x1, y1, x2, y2 int) {
	x1, x2 = max(x1, 0), min(x2, Size)
	y1, y2 = max(y1, 0), min(y2, Size)
	if x1 >= x2 || y1 >= y2 {
		return
	}
	var row [wordsPerRow]uint64
	for x := x1; x < x2; {
		w, b := x/64, x%64
		n := min(64-b, x2-x)
		var run uint64 = 1<<uint(n) - 1
		if n == 64 {
			run = ^uint64(0)
		}
		row[w] |= run << uint(b)
		x += n
	}
	for y := y1; y < y2; y++ {
		for i := range row {
			m.rows[y][i] |= row[i]
		}
	}
}

// FillInclusive sets columns x1…x2 and rows y1…y2, both ends included, the
// way OpenCV's filled rectangle draws a box.
func (m *Mask) FillInclusive(x1, y1, x2, y2 int) { m.Fill(x1, y1, x2+1, y2+1) }

// Or adds o's pixels to m.
func (m *Mask) Or(o *Mask) {
	for y := range m.rows {
		for i := range m.rows[y] {
			m.rows[y][i] |= o.rows[y][i]
		}
	}
}

// Count returns the number of set pixels.
func (m *Mask) Count() int {
	n := 0
	for y := range m.rows {
		for _, w := range m.rows[y] {
			n += bits.OnesCount64(w)
		}
	}
	return n
}

// AndCount returns the number of pixels set in both a and b.
func AndCount(a, b *Mask) int {
	n := 0
	for y := range a.rows {
		for i := range a.rows[y] {
			n += bits.OnesCount64(a.rows[y][i] & b.rows[y][i])
		}
	}
	return n
}

// At reports whether pixel (x, y) is set; outside the mask it is not.
func (m *Mask) At(x, y int) bool {
	if x < 0 || y < 0 || x >= Size || y >= Size {
		return false
	}
	return m.rows[y][x/64]>>(uint(x)%64)&1 == 1
}

// Flatten returns the mask row-major as 0/1 scores, what
// gt.flatten() and pred.flatten() give the Python tooling.
func (m *Mask) Flatten() []float64 {
	out := make([]float64, 0, Pixels)
	for y := range Size {
		for x := range Size {
			if m.At(x, y) {
				out = append(out, 1)
			} else {
				out = append(out, 0)
			}
		}
	}
	return out
}
