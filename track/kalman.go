package track

import "math"

// Noise settings of the motion filter, in normalised frame units (the frame
// is 1×1) and seconds. Why these values: see "Motion" in doc.go.
const (
	rCentre = 0.05 * 0.05 // measurement variance of a box centre
	rSize   = 0.08 * 0.08 // measurement variance of a box width or height
	qCentre = 5e-4        // white-noise acceleration of the centre, /s³
	qSize   = 5e-4        // random-walk drift of the size, /s
	vInit   = 0.1 * 0.1   // variance of the unknown velocity of a new track
)

// axis is the constant-velocity filter of one centre coordinate: position
// p, velocity v per second, and their covariance [[pp pv] [pv vv]].
type axis struct{ p, v, pp, pv, vv float64 }

func (a *axis) predict(dt float64) {
	a.p += a.v * dt
	pp := a.pp + 2*dt*a.pv + dt*dt*a.vv + qCentre*dt*dt*dt/3
	pv := a.pv + dt*a.vv + qCentre*dt*dt/2
	a.vv += qCentre * dt
	a.pp, a.pv = pp, pv
}

func (a *axis) update(z float64) {
	s := a.pp + rCentre
	k0, k1 := a.pp/s, a.pv/s
	y := z - a.p
	a.p += k0 * y
	a.v += k1 * y
	a.vv -= k1 * a.pv
	a.pv -= k0 * a.pv
	a.pp -= k0 * a.pp
}

// level is the random-walk filter of one size (width or height).
type level struct{ x, pp float64 }

func (l *level) predict(dt float64) { l.pp += qSize * dt }

func (l *level) update(z float64) {
	k := l.pp / (l.pp + rSize)
	l.x += k * (z - l.x)
	l.pp -= k * l.pp
}

// kalman is SORT's constant-velocity filter over the box centre and size,
// state (cx, cy, w, h, vcx, vcy), measurement (cx, cy, w, h). With diagonal
// noise the transition and measurement matrices only couple a centre with
// its velocity, so the 6×6 covariance stays block diagonal and the filter is
// exactly two 2-state filters and two 1-state ones, which is how it is kept:
// no matrix code, no allocation.
type kalman struct {
	x, y axis
	w, h level
}

func newKalman(b [4]float64) kalman {
	cx, cy, w, h := centreSize(b)
	return kalman{
		x: axis{p: cx, pp: rCentre, vv: vInit},
		y: axis{p: cy, pp: rCentre, vv: vInit},
		w: level{x: w, pp: rSize},
		h: level{x: h, pp: rSize},
	}
}

func (k *kalman) predict(dt float64) {
	if !(dt > 0) || math.IsInf(dt, 0) {
		return
	}
	k.x.predict(dt)
	k.y.predict(dt)
	k.w.predict(dt)
	k.h.predict(dt)
}

func (k *kalman) update(b [4]float64) {
	cx, cy, w, h := centreSize(b)
	k.x.update(cx)
	k.y.update(cy)
	k.w.update(w)
	k.h.update(h)
}

// box returns the filter's box, clipped to the frame.
func (k *kalman) box() [4]float64 {
	w, h := max(k.w.x, 0), max(k.h.x, 0)
	return [4]float64{
		clip01(k.x.p - w/2), clip01(k.y.p - h/2),
		clip01(k.x.p + w/2), clip01(k.y.p + h/2),
	}
}

// centreX returns the filter's horizontal centre, clipped to the frame.
func (k *kalman) centreX() float64 { return clip01(k.x.p) }

func centreSize(b [4]float64) (cx, cy, w, h float64) {
	return (b[0] + b[2]) / 2, (b[1] + b[3]) / 2, b[2] - b[0], b[3] - b[1]
}

func clip01(v float64) float64 {
	if !(v > 0) { // NaN too
		return 0
	}
	return min(v, 1)
}

// iou is the intersection over union of two normalised boxes; 0 when
// either is empty.
func iou(a, b [4]float64) float64 {
	iw := min(a[2], b[2]) - max(a[0], b[0])
	ih := min(a[3], b[3]) - max(a[1], b[1])
	if iw <= 0 || ih <= 0 {
		return 0
	}
	inter := iw * ih
	union := (a[2]-a[0])*(a[3]-a[1]) + (b[2]-b[0])*(b[3]-b[1]) - inter
	if union <= 0 {
		return 0
	}
	return inter / union
}
