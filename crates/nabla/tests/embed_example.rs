//! Runs `examples/embed.rs` (the embedding walkthrough) and checks what it prints.

#[path = "../../../examples/embed.rs"]
mod embed;

#[test]
fn the_embedding_example_computes_what_it_says() {
    let text = embed::run().unwrap_or_else(|e| panic!("the example failed:\n{e}"));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "energy = 30");
    assert_eq!(lines[1], "distances = [0.0, 10.0, 5.0, 5.0]");
    assert!(lines[2].starts_with("error E04"), "{}", lines[2]);
    assert_eq!(lines.len(), 3);
}
