def main():  # placeholder until the CLI lands
    raise SystemExit('not ready')
