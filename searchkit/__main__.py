from .oneshot import main

main()
