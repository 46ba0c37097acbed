//! `Roster`: the engines of one build and what the scheduler knows of each: which are still
//! answering, how many stacks run on each, and which stacks' images each holds.

use std::collections::HashMap;
use std::sync::Arc;

use super::{EngineSpec, Member};
use crate::engine::{CancellationToken, Engine, EngineError};

/// How long a liveness check waits for an engine's `/_ping`.
pub const PING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The engines of a build, in the order the settings list them; the first that answers is
/// the primary (the plan's engine, and the one the package cache serves).
#[derive(Debug)]
pub struct Roster {
    pub members: Vec<Member>,
    alive: Vec<bool>,
    running: Vec<usize>,
    /// Per member: stack name → image reference or ID it holds.
    holdings: Vec<HashMap<String, String>>,
}

impl Roster {
    /// Connects to every engine at once. With no spec, the one engine of `DOCKER_HOST` (or the
    /// default socket) with `default_slots`. An engine that does not answer is left out with a
    /// note, unless none answers. Slots: the spec's, else `default_slots` for a single engine,
    /// else the engine's CPU count.
    pub async fn connect(
        specs: &[EngineSpec],
        default_slots: usize,
        cancel: &CancellationToken,
        note: impl Fn(String),
    ) -> Result<Roster, EngineError> {
        if specs.is_empty() {
            let engine = Engine::connect().await?;
            let member = Member {
                number: 1,
                engine: Arc::new(engine),
                slots: default_slots.max(1),
                network: None,
                cancel: cancel.child_token(),
            };
            return Ok(Roster::new(vec![member]));
        }
        let single = specs.len() == 1;
        let connects = specs.iter().map(|spec| async move {
            let engine = Engine::connect_to(&spec.address).await?;
            let slots = match spec.slots {
                Some(n) => n,
                None if single => default_slots,
                None => engine.cpu_count().await.unwrap_or(default_slots),
            };
            Ok::<_, EngineError>((engine, slots))
        });
        let mut members = Vec::new();
        let mut first_error = None;
        for (i, (spec, connected)) in specs
            .iter()
            .zip(futures_util::future::join_all(connects).await)
            .enumerate()
        {
            match connected {
                Ok((engine, slots)) => members.push(Member {
                    number: i + 1,
                    engine: Arc::new(engine),
                    slots: slots.max(1),
                    network: spec.network.clone(),
                    cancel: cancel.child_token(),
                }),
                Err(e) => {
                    note(format!(
                        "engine {} ({}) is left out: {e}",
                        i + 1,
                        spec.address
                    ));
                    first_error.get_or_insert(e);
                }
            }
        }
        match (members.is_empty(), first_error) {
            (true, Some(e)) => Err(e),
            _ => Ok(Roster::new(members)),
        }
    }

    /// The engine commands other than `build` use: the first one the settings list, or
    /// `DOCKER_HOST` (or the default socket) when they list none.
    pub async fn first_engine(specs: &[EngineSpec]) -> Result<Engine, EngineError> {
        match specs.first() {
            Some(spec) => Engine::connect_to(&spec.address).await,
            None => Engine::connect().await,
        }
    }

    /// A roster of already connected members, all alive, nothing running, holding nothing.
    pub fn new(members: Vec<Member>) -> Roster {
        let n = members.len();
        Roster {
            members,
            alive: vec![true; n],
            running: vec![0; n],
            holdings: vec![HashMap::new(); n],
        }
    }

    /// The primary engine: plans, up-to-date stacks' tags and the package cache use it.
    pub fn primary(&self) -> &Arc<Engine> {
        &self.members[0].engine
    }

    /// More than one engine.
    pub fn is_fleet(&self) -> bool {
        self.members.len() > 1
    }

    /// Free slots of member `i` (none once it is given up on).
    pub fn free_slots(&self, i: usize) -> usize {
        if self.is_alive(i) {
            self.members[i].slots.saturating_sub(self.running[i])
        } else {
            0
        }
    }

    /// Whether any live member has a free slot.
    pub fn has_free_slot(&self) -> bool {
        (0..self.members.len()).any(|i| self.free_slots(i) > 0)
    }

    /// Whether member `i` is still used (not given up on, here or by the [`super::Watchdog`]).
    pub fn is_alive(&self, i: usize) -> bool {
        self.alive[i] && !self.members[i].cancel.is_cancelled()
    }

    /// Whether any member is still used.
    pub fn any_alive(&self) -> bool {
        (0..self.members.len()).any(|i| self.is_alive(i))
    }

    pub fn started(&mut self, i: usize) {
        self.running[i] += 1;
    }

    pub fn finished(&mut self, i: usize) {
        self.running[i] = self.running[i].saturating_sub(1);
    }

    /// Gives member `i` up: no more stacks go to it, and the ones on it are cancelled.
    pub fn give_up(&mut self, i: usize) {
        self.alive[i] = false;
        self.members[i].cancel.cancel();
    }

    /// Asks member `i` whether it still answers (a `/_ping` within [`PING_TIMEOUT`]).
    pub async fn answers(&self, i: usize) -> bool {
        self.members[i].engine.answers(PING_TIMEOUT).await
    }

    /// The image member `i` holds for `stack`, if any.
    pub fn image_on(&self, i: usize, stack: &str) -> Option<&String> {
        self.holdings[i].get(stack)
    }

    /// Whether member `i` holds an image of `stack`.
    pub fn holds(&self, i: usize, stack: &str) -> bool {
        self.holdings[i].contains_key(stack)
    }

    /// Records that member `i` holds `image` for `stack`.
    pub fn hold(&mut self, i: usize, stack: &str, image: &str) {
        self.holdings[i].insert(stack.to_string(), image.to_string());
    }
}
