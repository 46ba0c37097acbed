//! The raw shape of one `stacks/*.toml` file, exactly as written, with spans for error messages.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// A string with the byte range it came from.
pub(crate) type Str = Spanned<String>;

/// One stack definition file (one stack, or one matrix of stacks).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StackFile {
    pub name: Option<Str>,
    pub description: Option<Str>,
    #[serde(default)]
    pub tags: Vec<Str>,
    pub from: Option<Str>,
    pub image: Option<Str>,
    pub suite: Option<Str>,
    pub bootstrap: Option<Spanned<BootstrapTable>>,
    pub context: Option<Str>,
    #[serde(default)]
    pub packages: Vec<Str>,
    #[serde(default)]
    pub runtime: Vec<Spanned<RuntimeTable>>,
    pub ffmpeg: Option<Spanned<FfmpegTable>>,
    pub composer: Option<Spanned<ComposerTable>>,
    #[serde(default)]
    pub step: Vec<Spanned<StepTable>>,
    #[serde(default)]
    pub env: BTreeMap<String, Str>,
    #[serde(default)]
    pub labels: BTreeMap<String, Str>,
    pub workdir: Option<Str>,
    pub user: Option<Str>,
    pub entrypoint: Option<Spanned<Vec<Str>>>,
    pub cmd: Option<Spanned<Vec<Str>>>,
    #[serde(default)]
    pub check: Vec<Spanned<CheckTable>>,
    pub matrix: Option<Spanned<BTreeMap<String, Spanned<Vec<Str>>>>>,
    pub status: Option<Str>,
    pub max_size: Option<Str>,
    /// `"per-component"` (default) or `"merged"`: how the Debian installs are layered.
    pub layers: Option<Str>,
    /// Leave documentation, man pages and translations out of dpkg's installs (copyright
    /// files stay); inherited from the parent stack when absent.
    pub slim: Option<Spanned<bool>>,
}

/// `[bootstrap]`: a root image made from Debian's mirror with debootstrap.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BootstrapTable {
    pub suite: Option<Str>,
    pub variant: Option<Str>,
    pub mirror: Option<Str>,
    pub components: Option<Vec<Str>>,
}

/// `[[runtime]]`: a language runtime from Debian's packages.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuntimeTable {
    pub name: Option<Str>,
    pub version: Option<Str>,
    /// Node only: `release` (npm's own release tarball, the default) or `debian` (Debian's
    /// `npm` package and the 335 packages it brings).
    pub npm: Option<Str>,
}

/// `[ffmpeg]`: Debian's FFmpeg, optionally with the bundled media helper.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FfmpegTable {
    #[serde(default)]
    pub helper: bool,
}

/// `[composer]`: PHP Composer, optionally running `composer install` in a directory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ComposerTable {
    pub install: Option<Str>,
    pub dest: Option<Str>,
}

/// `[[step]]`: one layer, with exactly one action.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StepTable {
    pub run: Option<Str>,
    pub apt: Option<Vec<Str>>,
    pub pip: Option<Vec<Str>>,
    pub npm: Option<Vec<Str>>,
    pub gem: Option<Vec<Str>>,
    pub copy: Option<Str>,
    pub dest: Option<Str>,
}

/// `[[check]]`: a command that must succeed inside the built image.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckTable {
    pub run: Option<Str>,
    pub timeout: Option<Spanned<u64>>,
}

impl StackFile {
    /// Visits every string that matrix variables may appear in (all but `tags`, which are
    /// rendered later with the stack's full set of variables).
    pub(crate) fn strings_mut(&mut self) -> Vec<&mut Str> {
        let mut out: Vec<&mut Str> = Vec::new();
        fn opt<'a>(o: &'a mut Option<Str>, out: &mut Vec<&'a mut Str>) {
            if let Some(s) = o {
                out.push(s);
            }
        }
        opt(&mut self.name, &mut out);
        opt(&mut self.description, &mut out);
        opt(&mut self.from, &mut out);
        opt(&mut self.image, &mut out);
        opt(&mut self.suite, &mut out);
        opt(&mut self.context, &mut out);
        opt(&mut self.workdir, &mut out);
        opt(&mut self.user, &mut out);
        opt(&mut self.status, &mut out);
        opt(&mut self.max_size, &mut out);
        opt(&mut self.layers, &mut out);
        if let Some(b) = &mut self.bootstrap {
            let b = b.get_mut();
            opt(&mut b.suite, &mut out);
            opt(&mut b.variant, &mut out);
            opt(&mut b.mirror, &mut out);
            out.extend(b.components.iter_mut().flatten());
        }
        out.extend(self.packages.iter_mut());
        for r in &mut self.runtime {
            let r = r.get_mut();
            opt(&mut r.name, &mut out);
            opt(&mut r.version, &mut out);
        }
        if let Some(c) = &mut self.composer {
            let c = c.get_mut();
            opt(&mut c.install, &mut out);
            opt(&mut c.dest, &mut out);
        }
        for s in &mut self.step {
            let s = s.get_mut();
            opt(&mut s.run, &mut out);
            opt(&mut s.copy, &mut out);
            opt(&mut s.dest, &mut out);
            for list in [&mut s.apt, &mut s.pip, &mut s.npm, &mut s.gem]
                .into_iter()
                .flatten()
            {
                out.extend(list.iter_mut());
            }
        }
        out.extend(self.env.values_mut());
        out.extend(self.labels.values_mut());
        for list in [&mut self.entrypoint, &mut self.cmd].into_iter().flatten() {
            out.extend(list.get_mut().iter_mut());
        }
        for c in &mut self.check {
            opt(&mut c.get_mut().run, &mut out);
        }
        out
    }
}
