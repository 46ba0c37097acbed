//! Simulated scale (`plan --simulate`): replays a full build of the selected stacks on N
//! engines × S slots with the build times `images.lock` recorded, so a team can see what more
//! machines would buy before buying them; and the placement rule the real scheduler shares.

mod placement;
mod pull_rate;
mod shape;
mod simulation;
mod stack_work;
mod timeline;

pub use placement::{place, pull_bytes, Candidate};
pub use pull_rate::{PullRate, DEFAULT_PULL_RATE};
pub use shape::{Shape, ShapeError};
pub use simulation::simulate;
pub use stack_work::{StackWork, FALLBACK_TIME};
pub use timeline::{Run, Timeline};

use crate::error::Result;
use crate::plan::Action;
use crate::session::Session;

/// Simulates building every selected stack (and its parents) from scratch, up-to-date or
/// not, end-of-life ones aside (a build skips them), in the order `ferrostack build` starts
/// them. Needs no engine. Slots per engine default to this machine's CPU count, as `--jobs`.
pub fn simulate_session(
    session: &Session,
    names: &[String],
    shape: Shape,
    pull_rate: PullRate,
) -> Result<Timeline> {
    let (plan, _) = session.plan(names)?;
    let mut order: Vec<String> = plan
        .stacks
        .iter()
        .filter(|s| s.action != Action::Eol)
        .map(|s| s.name.clone())
        .collect();
    crate::builder::heaviest_first(&session.catalogue, session.lock.as_ref(), &mut order);
    let stacks: Vec<(String, Option<String>)> = order
        .into_iter()
        .map(|name| {
            let parent = session
                .catalogue
                .get(&name)
                .and_then(|s| s.parent())
                .map(str::to_string);
            (name, parent)
        })
        .collect();
    let work = stack_work::from_lock(&stacks, session.lock.as_ref());
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut timeline = simulate(&work, shape.engines, shape.slots.unwrap_or(cpus), pull_rate);
    timeline.slots_are_cpus = shape.slots.is_none();
    Ok(timeline)
}
