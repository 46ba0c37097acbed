//! Re-exports the FFmpeg version that `ffmpeg-sys-next` detected as `ffmpeg_X_Y` cfgs, so the
//! few version-specific calls (stream side data) compile against FFmpeg 5.1, 6 and 7.
use std::env;

fn main() {
    for (name, value) in env::vars() {
        if let Some(feature) = name.strip_prefix("DEP_FFMPEG_") {
            let feature = feature.to_lowercase();
            if !feature.starts_with("ffmpeg_") {
                continue;
            }
            println!("cargo:rustc-check-cfg=cfg({feature})");
            if value == "true" {
                println!("cargo:rustc-cfg={feature}");
            }
        }
    }
}
