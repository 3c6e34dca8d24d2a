//! The operator state file's reader (`OperatorState::parse`, what
//! `OperatorState::load` runs on the file's bytes) on any contents: a state
//! or an error, never a panic; and a state it accepts, written the way
//! `save` writes it, reads back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_core::cluster::OperatorState;

fuzz_target!(|data: &[u8]| {
    match OperatorState::parse(data) {
        Ok(state) => {
            let written = serde_json::to_vec_pretty(&state).expect("a state serialises");
            let read = OperatorState::parse(&written).expect("what save writes, load reads");
            assert_eq!(read, state, "the state round-trips");
        }
        Err(message) => assert!(!message.is_empty(), "a refusal says why"),
    }
});
