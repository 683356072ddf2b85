def run(args):
    raise NotImplementedError
