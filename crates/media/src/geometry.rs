//! The picture arithmetic behind `resize` and thumbnails: rotation, crop, aspect, fit, even sizes.
//!
//! Everything is computed in display space (square pixels, after rotation) and turned into one
//! FFmpeg filter chain, so SAR ≠ 1 and rotated inputs come out the way a player shows them.
use serde::{Deserialize, Serialize};

use crate::MediaError;

/// How the picture goes into the `width` × `height` box.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Fit {
    /// Fit inside the box, keeping the aspect ratio (the output may be smaller than the box).
    #[default]
    Contain,
    /// Fill the box, keeping the aspect ratio, and crop what overflows (centered).
    Cover,
    /// Stretch to exactly the box.
    Fill,
    /// Fit inside, then pad with black to exactly the box (centered).
    Pad,
}

/// A crop rectangle `WxH+X+Y` in displayed pixels (after rotation), before scaling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Crop {
    pub width: u32,
    pub height: u32,
    pub x: u32,
    pub y: u32,
}

impl std::str::FromStr for Crop {
    type Err = MediaError;

    fn from_str(s: &str) -> Result<Self, MediaError> {
        let bad = || MediaError::option("crop", s, "expected WxH+X+Y, e.g. 640x360+0+60");
        let (size, rest) = s.split_once('+').ok_or_else(bad)?;
        let (x, y) = rest.split_once('+').ok_or_else(bad)?;
        let (w, h) = size.split_once(['x', 'X']).ok_or_else(bad)?;
        let n = |v: &str| v.trim().parse::<u32>().map_err(|_| bad());
        let crop = Crop {
            width: n(w)?,
            height: n(h)?,
            x: n(x)?,
            y: n(y)?,
        };
        if crop.width == 0 || crop.height == 0 {
            return Err(MediaError::option(
                "crop",
                s,
                "width and height must be positive",
            ));
        }
        Ok(crop)
    }
}

/// A display aspect ratio such as `16:9`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aspect {
    pub num: u32,
    pub den: u32,
}

impl std::str::FromStr for Aspect {
    type Err = MediaError;

    fn from_str(s: &str) -> Result<Self, MediaError> {
        let bad = || {
            MediaError::option(
                "aspect",
                s,
                "expected W:H with positive integers, e.g. 16:9",
            )
        };
        let (a, b) = s.split_once([':', '/']).ok_or_else(bad)?;
        let num: u32 = a.trim().parse().map_err(|_| bad())?;
        let den: u32 = b.trim().parse().map_err(|_| bad())?;
        if num == 0 || den == 0 {
            return Err(bad());
        }
        Ok(Aspect { num, den })
    }
}

/// Facts about the source picture.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Source {
    pub width: u32,
    pub height: u32,
    /// Sample aspect ratio as a number (pixel width / pixel height).
    pub sar: f64,
    /// Clockwise display rotation in degrees (0, 90, 180, 270).
    pub rotation: f64,
}

/// What the caller asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Request {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fit: Fit,
    pub crop: Option<Crop>,
    pub aspect: Option<Aspect>,
    /// Round to even sizes (4:2:0 and 4:2:2 chroma).
    pub even: bool,
}

/// The planned filter chain and the output size it produces.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Geometry {
    pub filter: String,
    pub width: u32,
    pub height: u32,
}

fn round_to(v: f64, even: bool) -> u32 {
    let v = v.round().max(1.0) as u32;
    if even {
        (v & !1).max(2)
    } else {
        v.max(1)
    }
}

impl Geometry {
    pub(crate) fn plan(src: Source, req: Request) -> Result<Geometry, MediaError> {
        let mut filters: Vec<String> = Vec::new();
        let (mut w, mut h, mut sar) = (
            src.width,
            src.height,
            if src.sar > 0.0 { src.sar } else { 1.0 },
        );
        // 1. Rotate the pixels the way a player would; the transpose swaps the SAR too.
        match src.rotation.round() as i64 {
            90 => {
                filters.push("transpose=clock".into());
                (w, h, sar) = (h, w, 1.0 / sar);
            }
            270 => {
                filters.push("transpose=cclock".into());
                (w, h, sar) = (h, w, 1.0 / sar);
            }
            180 => filters.push("hflip,vflip".into()),
            _ => {}
        }
        // 2. Explicit crop, in pixels of the upright picture.
        if let Some(c) = req.crop {
            if c.x + c.width > w || c.y + c.height > h {
                return Err(MediaError::option(
                    "crop",
                    format!("{}x{}+{}+{}", c.width, c.height, c.x, c.y),
                    format!("the rectangle does not fit inside the {w}x{h} picture"),
                ));
            }
            filters.push(format!("crop={}:{}:{}:{}", c.width, c.height, c.x, c.y));
            (w, h) = (c.width, c.height);
        }
        // 3. Aspect: center-crop to the requested display aspect ratio.
        if let Some(a) = req.aspect {
            let target = f64::from(a.num) / f64::from(a.den);
            let current = f64::from(w) * sar / f64::from(h);
            if (current - target).abs() > 1e-3 {
                let (cw, ch) = if current > target {
                    (
                        ((f64::from(h) * target / sar).round() as u32).clamp(1, w),
                        h,
                    )
                } else {
                    (
                        w,
                        ((f64::from(w) * sar / target).round() as u32).clamp(1, h),
                    )
                };
                filters.push(format!("crop={cw}:{ch}:{}:{}", (w - cw) / 2, (h - ch) / 2));
                (w, h) = (cw, ch);
            }
        }
        // 4. Fit into the box in display (square-pixel) space.
        let dw = f64::from(w) * sar;
        let dh = f64::from(h);
        let (bw, bh) = match (req.width, req.height) {
            (Some(0), _) | (_, Some(0)) => {
                return Err(MediaError::option("width/height", 0, "must be positive"))
            }
            (Some(bw), Some(bh)) => (f64::from(bw), f64::from(bh)),
            (Some(bw), None) => (f64::from(bw), f64::from(bw) * dh / dw),
            (None, Some(bh)) => (f64::from(bh) * dw / dh, f64::from(bh)),
            (None, None) => (dw, dh),
        };
        let one_side = req.width.is_none() || req.height.is_none();
        let even = req.even;
        let (out_w, out_h) = match if one_side { Fit::Fill } else { req.fit } {
            Fit::Fill => {
                let (ow, oh) = (round_to(bw, even), round_to(bh, even));
                filters.push(format!("scale={ow}:{oh}"));
                (ow, oh)
            }
            Fit::Contain | Fit::Pad => {
                let s = (bw / dw).min(bh / dh);
                let (sw, sh) = (round_to(dw * s, even), round_to(dh * s, even));
                filters.push(format!("scale={sw}:{sh}"));
                if req.fit == Fit::Pad {
                    let (pw, ph) = (round_to(bw, even).max(sw), round_to(bh, even).max(sh));
                    let (px, py) = ((pw - sw) / 2, (ph - sh) / 2);
                    let (px, py) = if even { (px & !1, py & !1) } else { (px, py) };
                    filters.push(format!("pad={pw}:{ph}:{px}:{py}:black"));
                    (pw, ph)
                } else {
                    (sw, sh)
                }
            }
            Fit::Cover => {
                let s = (bw / dw).max(bh / dh);
                let (ow, oh) = (round_to(bw, even), round_to(bh, even));
                let (sw, sh) = (
                    (dw * s).ceil().max(f64::from(ow)) as u32,
                    (dh * s).ceil().max(f64::from(oh)) as u32,
                );
                filters.push(format!("scale={sw}:{sh}"));
                let (cx, cy) = ((sw - ow) / 2, (sh - oh) / 2);
                filters.push(format!("crop={ow}:{oh}:{cx}:{cy}"));
                (ow, oh)
            }
        };
        filters.push("setsar=1".into());
        Ok(Geometry {
            filter: filters.join(","),
            width: out_w,
            height: out_h,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(w: u32, h: u32) -> Source {
        Source {
            width: w,
            height: h,
            sar: 1.0,
            rotation: 0.0,
        }
    }

    fn req(w: u32, h: u32, fit: Fit) -> Request {
        Request {
            width: Some(w),
            height: Some(h),
            fit,
            even: true,
            ..Default::default()
        }
    }

    #[test]
    fn contain_keeps_aspect_and_even_sizes() {
        let g = Geometry::plan(src(1920, 1080), req(641, 641, Fit::Contain)).unwrap();
        assert_eq!((g.width, g.height), (640, 360));
        assert_eq!(g.filter, "scale=640:360,setsar=1");
    }

    #[test]
    fn cover_crops_the_overflow() {
        let g = Geometry::plan(src(1920, 1080), req(400, 400, Fit::Cover)).unwrap();
        assert_eq!((g.width, g.height), (400, 400));
        assert_eq!(g.filter, "scale=712:400,crop=400:400:156:0,setsar=1");
    }

    #[test]
    fn pad_and_fill_hit_the_box() {
        let g = Geometry::plan(src(1920, 1080), req(400, 400, Fit::Pad)).unwrap();
        assert_eq!((g.width, g.height), (400, 400));
        assert_eq!(g.filter, "scale=400:224,pad=400:400:0:88:black,setsar=1");
        let g = Geometry::plan(src(1920, 1080), req(400, 400, Fit::Fill)).unwrap();
        assert_eq!(g.filter, "scale=400:400,setsar=1");
    }

    #[test]
    fn anamorphic_source_uses_display_aspect() {
        // 720x576 with SAR 16:11 displays as 1047x576 (about 16:9).
        let s = Source {
            width: 720,
            height: 576,
            sar: 16.0 / 11.0,
            rotation: 0.0,
        };
        let g = Geometry::plan(s, req(640, 640, Fit::Contain)).unwrap();
        assert_eq!((g.width, g.height), (640, 352));
    }

    #[test]
    fn rotation_swaps_the_box_orientation() {
        let s = Source {
            width: 640,
            height: 360,
            sar: 1.0,
            rotation: 90.0,
        };
        let g = Geometry::plan(s, req(1000, 1000, Fit::Contain)).unwrap();
        assert_eq!((g.width, g.height), (562, 1000));
        assert!(g.filter.starts_with("transpose=clock,"));
    }

    #[test]
    fn aspect_center_crops_then_one_side_scales() {
        let r = Request {
            width: Some(320),
            aspect: Some("1:1".parse().unwrap()),
            even: true,
            ..Default::default()
        };
        let g = Geometry::plan(src(640, 360), r).unwrap();
        assert_eq!(g.filter, "crop=360:360:140:0,scale=320:320,setsar=1");
    }

    #[test]
    fn crop_is_validated() {
        let r = Request {
            crop: Some("100x100+600+0".parse().unwrap()),
            ..Default::default()
        };
        assert!(Geometry::plan(src(640, 360), r).is_err());
        assert!("10x10+1".parse::<Crop>().is_err());
        assert!("0:9".parse::<Aspect>().is_err());
    }
}
