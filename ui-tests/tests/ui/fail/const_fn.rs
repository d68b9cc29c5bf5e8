use moesif_lambda::moesif_logger;

#[moesif_logger]
const fn handler(event: u8) -> u8 {
    event
}

fn main() {}
