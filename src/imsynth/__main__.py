from imsynth.cli.main import main

main()
