"""Solutions to tutorial 10's exercises."""
from tinygradlike import CustomOp


def make_softsign():
    """softsign(x) = x / (1 + |x|); its derivative is 1 / (1 + |x|)^2."""
    def backward(g, x):
        d = x.abs() + 1
        return [g / (d * d)]
    return CustomOp("softsign", forward=lambda x: x / (x.abs() + 1), backward=backward)
