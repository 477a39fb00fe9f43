"""The features suite: the deployment guide's 功能状态矩阵, row by row, measured."""
