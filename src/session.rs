//! One command's view of a project: loaded catalogue, templates and lock, and the plan.

use std::collections::BTreeMap;

use crate::catalogue::Catalogue;
use crate::error::{Error, Result};
use crate::hash::{prepare, Prepared};
use crate::lock::{LockEntry, Lockfile, LOCK_VERSION};
use crate::plan::{Action, Plan};
use crate::project::Project;
use crate::templates::TemplateSet;

/// A project with everything loaded and validated.
#[derive(Debug)]
pub struct Session {
    pub project: Project,
    pub catalogue: Catalogue,
    pub templates: TemplateSet,
    /// `None` when there is no `images.lock` yet.
    pub lock: Option<Lockfile>,
}

impl Session {
    /// Loads definitions, templates and the lock of `project`.
    pub fn open(project: Project) -> Result<Session> {
        let catalogue = project.load()?;
        let templates = TemplateSet::load(&project.templates_dir())?;
        let lock = Lockfile::read(&project.lock_path())?;
        Ok(Session {
            project,
            catalogue,
            templates,
            lock,
        })
    }

    /// Renders and hashes the named stacks (all when empty) and their ancestors.
    pub fn prepare(&self, names: &[String]) -> Result<BTreeMap<String, Prepared>> {
        let stacks = self.catalogue.select(names)?;
        prepare(&self.project, &self.templates, &stacks, self.lock.as_ref())
    }

    /// The plan for the named stacks (all when empty), with their ancestors.
    pub fn plan(&self, names: &[String]) -> Result<(Plan, BTreeMap<String, Prepared>)> {
        let stacks = self.catalogue.select(names)?;
        let prepared = prepare(&self.project, &self.templates, &stacks, self.lock.as_ref())?;
        let plan = Plan::new(&stacks, &prepared, self.lock.as_ref());
        Ok((plan, prepared))
    }

    /// What would change in the lock if every stack were recorded as it is now: a stack to
    /// build, or a lock entry whose stack no longer exists. Empty means the lock is current.
    pub fn lock_changes(&self) -> Result<Vec<String>> {
        let (plan, _) = self.plan(&[])?;
        let mut changes: Vec<String> = plan
            .stacks
            .iter()
            .filter(|s| s.action == Action::Build)
            .map(|s| {
                let why: Vec<String> = s.reasons.iter().map(|r| r.to_string()).collect();
                format!("  {}: {}", s.name, why.join(", "))
            })
            .collect();
        if let Some(lock) = &self.lock {
            for name in lock.stacks.keys() {
                if self.catalogue.get(name).is_none() {
                    changes.push(format!(
                        "  {name}: no longer defined (its entry would be removed)"
                    ));
                }
            }
        }
        Ok(changes)
    }

    /// Fails with `LockWouldChange` unless the lock is current.
    pub fn ensure_locked(&self) -> Result<()> {
        let changes = self.lock_changes()?;
        if changes.is_empty() {
            Ok(())
        } else {
            Err(Error::LockWouldChange { reasons: changes })
        }
    }

    /// A lock entry recording `prepared` (build results left empty), keeping pins and
    /// keeping the previous build's results when the hash is unchanged.
    pub fn entry_for(&self, prepared: &Prepared) -> LockEntry {
        let stack = self
            .catalogue
            .get(&prepared.name)
            .expect("prepared stacks exist");
        let previous = self
            .lock
            .as_ref()
            .and_then(|l| l.stacks.get(&prepared.name));
        let mut entry = match previous {
            Some(p) if p.hash == prepared.hash => p.clone(),
            _ => LockEntry::default(),
        };
        entry.hash = prepared.hash.clone();
        entry.parent = stack.parent().map(str::to_string);
        entry.tags = stack.tags.clone();
        entry.inputs = prepared.inputs.clone();
        entry.pins = previous.map(|p| p.pins.clone()).unwrap_or_default();
        entry.dependency_pins = previous
            .map(|p| p.dependency_pins.clone())
            .unwrap_or_default();
        entry
    }

    /// A new lock: the current one with `entries` replaced and undefined stacks dropped.
    pub fn updated_lock(
        &self,
        entries: impl IntoIterator<Item = LockEntry>,
        names: impl IntoIterator<Item = String>,
    ) -> Lockfile {
        let mut lock = self.lock.clone().unwrap_or(Lockfile {
            version: LOCK_VERSION,
            stacks: BTreeMap::new(),
        });
        for (name, entry) in names.into_iter().zip(entries) {
            lock.stacks.insert(name, entry);
        }
        lock.stacks
            .retain(|name, _| self.catalogue.get(name).is_some());
        lock
    }
}
