# Sourced by the profile scripts: writes B1's input (N lines) and manifest into the current directory.
i=1; : > input.txt
while [ $i -le "$N" ]; do printf 'line %06d of the quick brown fox jumps over the lazy dog\n' $i; i=$((i + 1)); done >> input.txt
cat > b1.toml <<'TOML'
[[task]]
name = "split"
script = 'split -l 1 -d -a 6 "$INPUT_FILE" "$OUTPUT_DIR/line-"'
[[task]]
name = "upper"
script = 'tr a-z A-Z < "$INPUT_FILE" > "$OUTPUT_DIR/$INPUT_NAME"'
[[task]]
name = "count"
script = 'wc -c < "$INPUT_FILE" > "$OUTPUT_DIR/$INPUT_NAME"'
TOML
