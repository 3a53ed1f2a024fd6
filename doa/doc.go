// Package doa estimates the direction of arrival of sound at a microphone
// array with SRP-PHAT, in pure Go (gonum's FFT).
//
// # Frames and signs
//
// Microphone positions are metres in the array's frame, following ROS
// REP 103: x forward, y left, z up.
//
// AzimuthDeg uses garssld's bearing_deg convention, measured in the
// array's frame: 0 on the array's +x axis, positive to the right (towards
// −y, clockwise seen from above), in (−180°, 180°]. ElevationDeg is
// positive up (towards +z), in [−90°, 90°]. A consumer maps an azimuth to
// the camera by adding the array's yaw offset.
//
// # Method
//
// Each channel's short-time Fourier transform (Hann window, FrameSize
// samples, hop Config.Hop) is whitened bin by bin (the phase transform,
// PHAT: X/|X|). For every pair of microphones the whitened cross-spectra
// are averaged over the frames in the band [MinFreqHz, MaxFreqHz] and
// turned into a generalised cross-correlation (GCC-PHAT) on a lag grid of
// 1/8 sample. The steered response power of a direction u is
//
//	P(u) = M + 2·Σ_pairs r_ij(τ_ij(u))
//
// where M is the number of microphones, r_ij the pair's normalised
// GCC-PHAT (in [−1, 1]) and τ_ij(u) the pair's delay for a plane wave from
// u. P is the whitened beam's power normalised per bin and frame: 0 ≤ P ≤
// M², M where the channels are unrelated, M² for a perfect plane wave
// from u.
//
// The search is coarse to fine, as ODAS does: the map is evaluated on a
// coarse grid with CoarseStepDeg spacing (a circle of azimuths for planar
// and linear arrays; rings of elevation every CoarseStepDeg with the
// azimuth count shrinking as cos(elevation), so the points are nearly
// equally spaced on the sphere, for 3-D arrays). Each local maximum kept
// is refined on a grid of FineStepDeg within ±CoarseStepDeg around it. With
// the defaults the reported resolution is 0.5° (coarse grid 4°).
//
// # Confidence and silence
//
// A peak's Confidence is its power divided by the mean power of the coarse
// map (which covers every direction nearly uniformly): the peak-to-mean
// ratio, ≥ 1. Diffuse noise gives a nearly flat map (a ratio near 1), a
// plane wave a sharp one. Estimate returns nil when the strongest peak's
// ratio is under Config.MinRatio (FlatRatio by default) or the input is
// silent; a result whose Confidence is at least ConfidentRatio is
// confident. Both thresholds were chosen from the synthetic tests of this
// package (see the constants).
//
// # Planar and linear arrays
//
// An array whose microphones lie in one plane is assumed horizontal: only
// azimuth is searched (elevation 0) and ElevationDeg is nil. A linear
// array (a pair) cannot tell the two sides of its axis apart; it reports
// the front solution (|azimuth| ≤ 90° where the axis allows it) with
// Ambiguous set, and peaks are searched in the front half only.
package doa
