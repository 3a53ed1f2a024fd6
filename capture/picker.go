package capture

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"time"

	"github.com/asticode/go-astiav"
)

// jpegQuality is high enough that compression artefacts do not change what
// a vision model sees, and small enough (≈10 KB at 224×224) to send per request.
const jpegQuality = 90

// picker keeps, for the Sink's current picture target, a reference to the
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
	scaler         *astiav.SoftwareScaleContext
	scaled         *astiav.Frame
	scalerW        int
	scalerH        int
	scalerFmt      astiav.PixelFormat
	img            *image.YCbCr // views planes of pixels (or turned)
	pixels         []byte       // the scaled frame's planes, packed
	turned         []byte       // the planes turned upright
	jpegBuf        bytes.Buffer

	lastPic Picture // the last converted picture, reused when one frame serves two targets
}

func newPicker(modelW, modelH int) *picker {
	return &picker{modelW: modelW, modelH: modelH, held: astiav.AllocFrame(), scaled: astiav.AllocFrame()}
}

func (d *picker) free() {
	d.held.Free()
	d.scaled.Free()
	if d.scaler != nil {
		d.scaler.Free()
	}
}

// offer considers frame f at pos for the sink's picture targets. Decoders
// output frames in presentation order, so once a frame at or past the target
// arrives, no later frame can be nearer.
func (d *picker) offer(f *astiav.Frame, pos time.Duration, sink Sink) error {
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
		var pic Picture
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

// convert scales f to the model size, turns it upright and encodes it,
// unless it lies too far from target, in which case the picture carries no
// JPEG.
func (d *picker) convert(f *astiav.Frame, pos, target time.Duration) (Picture, error) {
	w, h := d.orient.turned(f.Width(), f.Height())
	pic := Picture{Target: target, Pos: pos, Width: w, Height: h, ModelWidth: d.modelW, ModelHeight: d.modelH}
	if dist := pos - target; dist > PictureTolerance || dist < -PictureTolerance {
		return pic, nil
	}
	if d.lastPic.JPEG != nil && d.lastPic.Pos == pos {
		pic.JPEG = d.lastPic.JPEG
		return pic, nil
	}
	if err := d.ensureScaler(f); err != nil {
		return pic, err
	}
	if err := d.scaler.ScaleFrame(f, d.scaled); err != nil {
		return pic, fmt.Errorf("scale frame %dx%d to %dx%d: %w", f.Width(), f.Height(), d.modelW, d.modelH, err)
	}
	if err := d.readScaled(); err != nil {
		return pic, err
	}
	d.jpegBuf.Reset()
	if err := jpeg.Encode(&d.jpegBuf, d.img, &jpeg.Options{Quality: jpegQuality}); err != nil {
		return pic, fmt.Errorf("encode JPEG: %w", err)
	}
	pic.JPEG = bytes.Clone(d.jpegBuf.Bytes())
	d.lastPic = pic
	return pic, nil
}

// finish offers the held frame once more at the end of the media, or
// before a gap: no later frame will come to prove it the nearest.
func (d *picker) finish(sink Sink) error {
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

// ensureScaler (re)creates the scaler when the source size or pixel format
// changes mid-stream, which cameras do after a renegotiation.
func (d *picker) ensureScaler(f *astiav.Frame) error {
	if d.scaler != nil && d.scalerW == f.Width() && d.scalerH == f.Height() && d.scalerFmt == f.PixelFormat() {
		return nil
	}
	if d.scaler != nil {
		d.scaler.Free()
		d.scaler = nil
	}
	// The scaled frame's buffers belong to the old geometry's context.
	d.scaled.Unref()
	// A picture turned a quarter is scaled to the model size on its side.
	sw, sh := d.orient.turned(d.modelW, d.modelH)
	s, err := astiav.CreateSoftwareScaleContext(f.Width(), f.Height(), f.PixelFormat(), sw, sh,
		astiav.PixelFormatYuvj420P, astiav.NewSoftwareScaleContextFlags(astiav.SoftwareScaleContextFlagArea))
	if err != nil {
		return fmt.Errorf("create scaler %dx%d %s → %dx%d: %w", f.Width(), f.Height(), f.PixelFormat().Name(), d.modelW, d.modelH, err)
	}
	d.scaler = s
	d.scalerW, d.scalerH, d.scalerFmt = f.Width(), f.Height(), f.PixelFormat()
	return nil
}

// readScaled copies the scaled 4:2:0 frame into one packed Go buffer, turns
// it upright and points d.img's planes into it. (go-astiav v0.16.0's
// FrameData.ToImage reads chroma planes at full height, past their end, so
// it is not used.)
func (d *picker) readScaled() error {
	size, err := d.scaled.ImageBufferSize(1)
	if err != nil {
		return fmt.Errorf("size scaled frame: %w", err)
	}
	if cap(d.pixels) < size {
		d.pixels = make([]byte, size)
	}
	d.pixels = d.pixels[:size]
	if _, err := d.scaled.ImageCopyToBuffer(d.pixels, 1); err != nil {
		return fmt.Errorf("copy scaled frame: %w", err)
	}
	sw, sh := d.orient.turned(d.modelW, d.modelH)
	w, h, cw, ch := sw, sh, (sw+1)/2, (sh+1)/2
	if size < w*h+2*cw*ch {
		return fmt.Errorf("scaled frame holds %d bytes, want %d", size, w*h+2*cw*ch)
	}
	planes := d.pixels
	if d.orient != (orientation{}) {
		if n := w*h + 2*cw*ch; cap(d.turned) < n {
			d.turned = make([]byte, n)
		}
		d.orient.apply(d.turned, d.pixels, w, h)
		d.orient.apply(d.turned[w*h:], d.pixels[w*h:], cw, ch)
		d.orient.apply(d.turned[w*h+cw*ch:], d.pixels[w*h+cw*ch:], cw, ch)
		planes = d.turned
		w, h = d.modelW, d.modelH
		cw, ch = (w+1)/2, (h+1)/2
	}
	d.img = &image.YCbCr{
		Y: planes[:w*h], Cb: planes[w*h : w*h+cw*ch], Cr: planes[w*h+cw*ch : w*h+2*cw*ch],
		YStride: w, CStride: cw, SubsampleRatio: image.YCbCrSubsampleRatio420,
		Rect: image.Rect(0, 0, w, h),
	}
	return nil
}
