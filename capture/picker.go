package capture

import (
	"bytes"
	"fmt"
	"github.com/garssl/garssld/media"
	"image"
	"image/jpeg"
	"time"

	"github.com/asticode/go-astiav"
)

// jpegQuality is high enough that compression artefacts do not change what
// a vision model sees, and small enough (≈10 KB at 224×224) to send per request.
const jpegQuality = 90

// picker keeps, for the media.Sink's current picture target, a reference to the
// nearest frame so far. Only the frame finally chosen is scaled, turned
// upright and encoded. It belongs to an input, not to one opening of it: a
// live input that reconnects within a window, or a looped file, offers the
// next session's frames against the frame it holds, so the nearest frame
// wins across the seam.
type picker struct {
	orient orientation // of the current session's stream

	held    *astiav.Frame // reference to the best candidate for the target
	heldPos time.Duration
	hasHeld bool

	modelW, modelH int
	model          *encoder // to the model size
	view           *encoder // to at most media.FrameMaxWidth, aspect kept; nil unless asked

	lastPic media.Picture // the last converted picture, reused when one frame serves two targets

	video videoOptions // how the video decoders of its sessions pick frames
	// catchUp, set by the current session's video decoder, decodes the
	// packets it holds back that the current target needs, before finish.
	catchUp func(media.Sink) error
}

// newPicker makes a picker for pictures of modelW×modelH; with frames it
// also encodes each chosen frame for the live view.
func newPicker(modelW, modelH int, frames bool) *picker {
	p := &picker{modelW: modelW, modelH: modelH, held: astiav.AllocFrame(), model: newEncoder()}
	if frames {
		p.view = newEncoder()
	}
	return p
}

func (d *picker) free() {
	d.held.Free()
	d.model.free()
	if d.view != nil {
		d.view.free()
	}
}

// offer considers frame f at pos for the sink's picture targets. Decoders
// output frames in presentation order, so once a frame at or past the target
// arrives, no later frame can be nearer.
func (d *picker) offer(f *astiav.Frame, pos time.Duration, sink media.Sink) error {
	for {
		target := sink.PictureTarget()
		if pos < target {
			d.held.Unref()
			if err := d.held.Ref(f); err != nil {
				return fmt.Errorf("reference video frame: %w", err)
			}
			d.heldPos, d.hasHeld = pos, true
			return nil
		}
		useHeld := d.hasHeld && target-d.heldPos < pos-target
		var pic media.Picture
		var err error
		switch {
		case useHeld:
			pic, err = d.convert(d.held, d.heldPos, target)
		default:
			pic, err = d.convert(f, pos, target)
		}
		if err != nil {
			return err
		}
		if useHeld {
			// The held frame is spent; the current frame may still serve
			// the next target.
			d.held.Unref()
			d.hasHeld = false
			sink.Picture(pic)
			if sink.PictureTarget() == target {
				return nil
			}
			continue
		}
		if d.hasHeld {
			// Older than a frame already at or past the target: no later
			// target can want it.
			d.held.Unref()
			d.hasHeld = false
		}
		sink.Picture(pic)
		// Frames are sparse relative to targets (hop shorter than the frame
		// interval, or a gap): the same frame may be nearest the next target.
		if sink.PictureTarget() == target {
			return nil // the sink wants no further picture yet
		}
	}
}

// take delivers f at pos for the current target, whichever frames are
// nearer: nearest_key chose it.
func (d *picker) take(f *astiav.Frame, pos time.Duration, sink media.Sink) error {
	d.held.Unref()
	d.hasHeld = false
	pic, err := d.convert(f, pos, sink.PictureTarget())
	if err != nil {
		return err
	}
	sink.Picture(pic)
	return nil
}

// convert scales f to the model size, turns it upright and encodes it,
// unless it lies too far from target, in which case the picture carries no
// JPEG. With a view encoder it also encodes the frame for the live view.
func (d *picker) convert(f *astiav.Frame, pos, target time.Duration) (media.Picture, error) {
	w, h := d.orient.turned(f.Width(), f.Height())
	pic := media.Picture{Target: target, Pos: pos, Width: w, Height: h, ModelWidth: d.modelW, ModelHeight: d.modelH}
	if dist := pos - target; dist > media.PictureTolerance || dist < -media.PictureTolerance {
		return pic, nil
	}
	if d.lastPic.JPEG != nil && d.lastPic.Pos == pos {
		pic.JPEG = d.lastPic.JPEG
		pic.Frame, pic.FrameWidth, pic.FrameHeight = d.lastPic.Frame, d.lastPic.FrameWidth, d.lastPic.FrameHeight
		return pic, nil
	}
	var err error
	if pic.JPEG, err = d.model.encode(f, d.orient, d.modelW, d.modelH); err != nil {
		return pic, err
	}
	if d.view != nil {
		pic.FrameWidth, pic.FrameHeight = viewSize(w, h)
		if pic.Frame, err = d.view.encode(f, d.orient, pic.FrameWidth, pic.FrameHeight); err != nil {
			return pic, err
		}
	}
	d.lastPic = pic
	return pic, nil
}

// viewSize fits an upright w×h frame into media.FrameMaxWidth, keeping its
// aspect; heights stay even so that 4:2:0 chroma covers whole rows.
func viewSize(w, h int) (int, int) {
	if w <= media.FrameMaxWidth {
		return w, h
	}
	vh := (h*media.FrameMaxWidth/w + 1) &^ 1
	return media.FrameMaxWidth, max(vh, 2)
}

// finish offers the held frame once more at the end of the media, or
// before a gap: no later frame will come to prove it the nearest.
func (d *picker) finish(sink media.Sink) error {
	if d.catchUp != nil {
		if err := d.catchUp(sink); err != nil {
			return err
		}
	}
	if !d.hasHeld {
		return nil
	}
	target := sink.PictureTarget()
	pic, err := d.convert(d.held, d.heldPos, target)
	d.held.Unref()
	d.hasHeld = false
	if err != nil {
		return err
	}
	sink.Picture(pic)
	return nil
}

// encoder scales frames to one size, turns them upright and encodes them as
// JPEG, keeping its scaler and buffers from one frame to the next.
type encoder struct {
	scaler   *astiav.SoftwareScaleContext
	scaled   *astiav.Frame
	srcW     int
	srcH     int
	srcFmt   astiav.PixelFormat
	dstW     int // upright
	dstH     int
	orient   orientation  // the scaler writes the picture on its side for a quarter turn
	img      *image.YCbCr // views the scaled frame's planes, or pixels or turned
	pixels   []byte       // the scaled frame's planes, packed, when it must be turned
	turned   []byte       // the planes turned upright
	lastJPEG int          // size of the last JPEG, to size the next one's buffer
}

func newEncoder() *encoder { return &encoder{scaled: astiav.AllocFrame()} }

func (e *encoder) free() {
	e.scaled.Free()
	if e.scaler != nil {
		e.scaler.Free()
	}
}

// encode returns f scaled to w×h upright, as a JPEG of its own.
func (e *encoder) encode(f *astiav.Frame, o orientation, w, h int) ([]byte, error) {
	if err := e.ensureScaler(f, o, w, h); err != nil {
		return nil, err
	}
	if err := e.scaler.ScaleFrame(f, e.scaled); err != nil {
		return nil, fmt.Errorf("scale frame %dx%d to %dx%d: %w", f.Width(), f.Height(), w, h, err)
	}
	if err := e.readScaled(o); err != nil {
		return nil, err
	}
	// A buffer of its own, sized from the last picture, rather than one
	// kept between windows and cloned: nothing stays allocated between
	// windows, and the JPEG leaves with little spare capacity unless it
	// outgrew the last one by more than an eighth.
	buf := bytes.NewBuffer(make([]byte, 0, e.lastJPEG+e.lastJPEG/8+4096))
	err := jpeg.Encode(buf, e.img, &jpeg.Options{Quality: jpegQuality})
	// e.img may view FFmpeg's buffers, which the next scale replaces.
	e.img = nil
	if err != nil {
		return nil, fmt.Errorf("encode JPEG: %w", err)
	}
	e.lastJPEG = buf.Len()
	return buf.Bytes(), nil
}

// ensureScaler (re)creates the scaler when the source size or pixel format
// changes mid-stream, which cameras do after a renegotiation, or when the
// wanted size or the picture's turn changes (a reconnect may bring a
// stream with other display matrix side data).
func (e *encoder) ensureScaler(f *astiav.Frame, o orientation, w, h int) error {
	if e.scaler != nil && e.srcW == f.Width() && e.srcH == f.Height() && e.srcFmt == f.PixelFormat() && e.dstW == w && e.dstH == h && e.orient == o {
		return nil
	}
	if e.scaler != nil {
		e.scaler.Free()
		e.scaler = nil
	}
	// The scaled frame's buffers belong to the old geometry's context.
	e.scaled.Unref()
	// A picture turned a quarter is scaled to the wanted size on its side.
	sw, sh := o.turned(w, h)
	s, err := astiav.CreateSoftwareScaleContext(f.Width(), f.Height(), f.PixelFormat(), sw, sh,
		astiav.PixelFormatYuvj420P, astiav.NewSoftwareScaleContextFlags(astiav.SoftwareScaleContextFlagArea))
	if err != nil {
		return fmt.Errorf("create scaler %dx%d %s → %dx%d: %w", f.Width(), f.Height(), f.PixelFormat().Name(), w, h, err)
	}
	e.scaler = s
	e.srcW, e.srcH, e.srcFmt, e.dstW, e.dstH, e.orient = f.Width(), f.Height(), f.PixelFormat(), w, h, o
	return nil
}

// readScaled points e.img's planes at the scaled 4:2:0 frame. An upright
// picture is read where the scaler wrote it, in FFmpeg's buffers, so the
// encoder keeps no copy of its own on the Go heap (one per stream and
// size, 0.8 MB for the live view's 960×540). A picture to turn is copied
// packed and turned. (go-astiav v0.16.0's FrameData.ToImage reads chroma
// planes at full height, past their end, so it is not used.)
func (e *encoder) readScaled(o orientation) error {
	sw, sh := o.turned(e.dstW, e.dstH)
	w, h, cw, ch := sw, sh, (sw+1)/2, (sh+1)/2
	if o == (orientation{}) {
		planes, strides, err := framePlanes(e.scaled, [3]int{h, ch, ch})
		if err != nil {
			return fmt.Errorf("read scaled frame: %w", err)
		}
		if e.scaled.Width() == w && e.scaled.Height() == h && strides[1] == strides[2] && strides[0] >= w && strides[1] >= cw {
			e.img = &image.YCbCr{
				Y: planes[0], Cb: planes[1], Cr: planes[2],
				YStride: strides[0], CStride: strides[1], SubsampleRatio: image.YCbCrSubsampleRatio420,
				Rect: image.Rect(0, 0, w, h),
			}
			return nil
		}
	}
	size, err := e.scaled.ImageBufferSize(1)
	if err != nil {
		return fmt.Errorf("size scaled frame: %w", err)
	}
	if cap(e.pixels) < size {
		e.pixels = make([]byte, size)
	}
	e.pixels = e.pixels[:size]
	if _, err := e.scaled.ImageCopyToBuffer(e.pixels, 1); err != nil {
		return fmt.Errorf("copy scaled frame: %w", err)
	}
	if size < w*h+2*cw*ch {
		return fmt.Errorf("scaled frame holds %d bytes, want %d", size, w*h+2*cw*ch)
	}
	planes := e.pixels
	if o != (orientation{}) {
		if n := w*h + 2*cw*ch; cap(e.turned) < n {
			e.turned = make([]byte, n)
		}
		o.apply(e.turned, e.pixels, w, h)
		o.apply(e.turned[w*h:], e.pixels[w*h:], cw, ch)
		o.apply(e.turned[w*h+cw*ch:], e.pixels[w*h+cw*ch:], cw, ch)
		planes = e.turned
		w, h = e.dstW, e.dstH
		cw, ch = (w+1)/2, (h+1)/2
	}
	e.img = &image.YCbCr{
		Y: planes[:w*h], Cb: planes[w*h : w*h+cw*ch], Cr: planes[w*h+cw*ch : w*h+2*cw*ch],
		YStride: w, CStride: cw, SubsampleRatio: image.YCbCrSubsampleRatio420,
		Rect: image.Rect(0, 0, w, h),
	}
	return nil
}
