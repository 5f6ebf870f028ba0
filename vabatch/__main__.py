from vabatch.cli import main

main()
