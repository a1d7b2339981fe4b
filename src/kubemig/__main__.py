from kubemig.cli import main

main()
