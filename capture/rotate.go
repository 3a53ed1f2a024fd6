package capture

import (
	"encoding/binary"
	"math"

	"github.com/asticode/go-astiav"
)

// orientation is how a decoded picture must be turned to be seen as its
// display matrix says (phones and body cameras write rotate=90): first
// transposed, then mirrored. The ffmpeg CLI's transpose directions are
// these compositions: clock = transpose+hflip, cclock = transpose+vflip,
// cclock_flip = transpose, clock_flip = transpose+hflip+vflip.
type orientation struct{ transpose, hflip, vflip bool }

// orientationOf reads stream s's display matrix and decides as the ffmpeg
// CLI's autorotation does (fftools/ffmpeg_filter.c, FFmpeg 5.1). Angles that
// are not a multiple of 90° (the CLI's rotate filter, for tilted mounts)
// are not applied: no camera garssld targets writes them.
func orientationOf(s *astiav.Stream) orientation {
	b := s.SideData(astiav.PacketSideDataTypeDisplaymatrix)
	dm, err := astiav.NewDisplayMatrixFromBytes(b)
	if err != nil {
		return orientation{}
	}
	var m [9]int32
	for i := range m {
		m[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
	}
	theta := math.Round(dm.Rotation()) // clockwise degrees
	theta -= 360 * math.Floor(theta/360+0.9/360)
	switch {
	case math.Abs(theta-90) < 1:
		return orientation{transpose: true, hflip: m[3] <= 0} // clock, or cclock_flip
	case math.Abs(theta-180) < 1:
		return orientation{hflip: m[0] < 0, vflip: m[4] < 0}
	case math.Abs(theta-270) < 1:
		return orientation{transpose: true, hflip: m[3] < 0, vflip: true} // clock_flip, or cclock
	case math.Abs(theta) < 1:
		return orientation{vflip: m[4] < 0}
	}
	return orientation{}
}

// turned is the size a w×h picture has once turned.
func (o orientation) turned(w, h int) (int, int) {
	if o.transpose {
		return h, w
	}
	return w, h
}

// apply writes plane src (w×h, stride w) turned into dst, which must hold
// w·h bytes; the result's stride is its turned width.
func (o orientation) apply(dst, src []byte, w, h int) {
	tw, th := o.turned(w, h)
	for y := range th {
		for x := range tw {
			sx, sy := x, y
			if o.hflip {
				sx = tw - 1 - x
			}
			if o.vflip {
				sy = th - 1 - y
			}
			if o.transpose {
				sx, sy = sy, sx
			}
			dst[y*tw+x] = src[sy*w+sx]
		}
	}
}
