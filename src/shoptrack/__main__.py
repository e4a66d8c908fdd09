from shoptrack.cli.main import main

main()
