use moesif_lambda::moesif_logger;

// Two mistakes in the function: both are reported.
#[moesif_logger]
const fn handler() -> u8 {
    1
}

// A mistake in the arguments and two in the function: all three are reported.
#[moesif_logger(option = OPTIONS)]
fn no_result() {}

fn main() {}
