//! Skips that cannot hide in a green CI run.
//!
//! A test that needs something the machine may lack (root, `dbus-daemon`, sock_diag, audit
//! support) calls [`skip`] with the reason and returns. On a developer's machine that prints
//! `SKIPPED: reason` and the test passes; under CI (`CI=true` or `CI=1` in the environment,
//! which `.ci/run` sets) it panics instead, so a missing install step fails the run.

/// The environment variable that marks a CI run.
pub const CI_VAR: &str = "CI";

/// Whether an environment value turns a flag on: `1` or `true`, in any case, around spaces.
pub fn flag(value: Option<&str>) -> bool {
    value.is_some_and(|v| {
        let v = v.trim();
        v == "1" || v.eq_ignore_ascii_case("true")
    })
}

/// Whether the environment variable `name` is set to `1` or `true`.
pub fn env_flag(name: &str) -> bool {
    flag(std::env::var(name).ok().as_deref())
}

/// Whether this is a CI run (`CI=true` or `CI=1`).
pub fn under_ci() -> bool {
    env_flag(CI_VAR)
}

/// Skips the rest of a test for `reason`, which should say what is missing and how to get
/// it (e.g. "dbus-daemon is not installed (apt-get install dbus-daemon)"). Prints
/// `SKIPPED: reason`; under CI it panics instead. The caller returns after it.
#[track_caller]
pub fn skip(reason: &str) {
    skip_with(reason, under_ci());
}

/// [`skip`] with the CI decision as a parameter.
#[track_caller]
pub fn skip_with(reason: &str, ci: bool) {
    if ci {
        panic!(
            "a test would be skipped under {CI_VAR}=true, which is a failure: {reason}\n\
             (install what is missing — `bash .ci/run` does, as root — or run without \
             {CI_VAR}=true to allow skips)"
        );
    }
    eprintln!("SKIPPED: {reason}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_values() {
        for on in ["1", "true", "TRUE", "True", " true\n"] {
            assert!(flag(Some(on)), "{on:?}");
        }
        for off in ["", "0", "false", "no", "yes", "2"] {
            assert!(!flag(Some(off)), "{off:?}");
        }
        assert!(!flag(None));
    }

    #[test]
    fn a_skip_outside_ci_returns() {
        skip_with("nothing is missing, this is a test", false);
    }

    #[test]
    fn a_skip_under_ci_fails_with_the_reason() {
        let panic = std::panic::catch_unwind(|| {
            skip_with(
                "dbus-daemon is not installed (apt-get install dbus-daemon)",
                true,
            )
        })
        .unwrap_err();
        let msg = panic.downcast_ref::<String>().expect("a formatted message");
        assert!(msg.contains("CI=true"), "{msg}");
        assert!(msg.contains("apt-get install dbus-daemon"), "{msg}");
    }
}
