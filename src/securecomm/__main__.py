from securecomm.cli.app import main

main()
