use moesif_lambda::moesif_logger;

#[moesif_logger]
struct Handler;

#[moesif_logger]
const NOT_A_FN: u8 = 1;

fn main() {}
