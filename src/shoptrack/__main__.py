from shoptrack.cli import main

main()
