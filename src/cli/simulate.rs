//! `plan --simulate`: prints a simulated full build's timeline, as text or JSON.

use ferrostack::scheduler::{self, PullRate, Shape};
use ferrostack::{Result, Session};

use super::stdout;

pub(crate) fn run(
    session: &Session,
    stacks: &[String],
    shape: Shape,
    pull_rate: PullRate,
    json: bool,
) -> Result<i32> {
    let timeline = scheduler::simulate_session(session, stacks, shape, pull_rate)?;
    if json {
        stdout::emit(
            &(serde_json::to_string_pretty(&timeline).expect("a timeline serialises") + "\n"),
        )?;
    } else {
        stdout::emit(&timeline.to_text())?;
    }
    Ok(0)
}
