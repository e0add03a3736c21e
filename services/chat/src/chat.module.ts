import { Module } from '@nestjs/common';
import { MessagesController } from './messages/messages.controller.js';

@Module({ controllers: [MessagesController] })
export class ChatModule {}
