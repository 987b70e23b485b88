"""Task types: the only code a task can run, registered by name.

``registry`` holds the types, ``builtins`` the ones jobsvc ships, ``sandbox``
the shell built-in's rules, ``loader`` what a process loads at start.
"""
